import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { closedPort, namedBackend, startBackend, startTcpServer } from './helpers/servers.js';

const base = lbYaml(`
routers: { all: { entrypoint: web, service: svc } }
`);

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, code: res.headers['lb-error'], body: await res.body.text() };
}

test('a pool with no servers answers 503', async (t) => {
  const lb = await startLb(t, `${base}services: { svc: { servers: [] } }`);
  const res = await get(lb.url('web'));
  assert.equal(res.status, 503);
  assert.equal(res.code, 'LB_NO_BACKEND');
  assert.match(res.body, /^503 Service Unavailable: no backend server is available/);
});

test('a refused connection answers 502', async (t) => {
  const port = await closedPort();
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  const res = await get(lb.url('web'));
  assert.equal(res.status, 502);
  assert.equal(res.code, 'LB_UPSTREAM_REFUSED');
  assert.match(res.body, /refused the connection/);
});

test('a backend that resets before answering gives 502, and lb keeps serving', async (t) => {
  const { port } = await startTcpServer(t, (socket) => socket.once('data', () => socket.resetAndDestroy()));
  const healthy = await namedBackend(t, 'ok');
  const lb = await startLb(t, `${base}
  healthy: { entrypoint: web, match: { pathPrefix: "/ok" }, service: ok }
services:
  svc: { servers: [ { url: "http://127.0.0.1:${port}" } ] }
  ok: { servers: [ { url: "${healthy.url}" } ] }
`.replace('routers: { all: { entrypoint: web, service: svc } }', 'routers:\n  all: { entrypoint: web, service: svc }'));
  const res = await get(lb.url('web'));
  assert.equal(res.status, 502);
  assert.equal(res.code, 'LB_UPSTREAM_RESET');
  assert.equal((await get(`${lb.url('web')}/ok`)).body, 'ok');
});

test('a malformed response answers 502', async (t) => {
  const { port } = await startTcpServer(t, (socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nhello')));
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  const res = await get(lb.url('web'));
  assert.equal(res.status, 502);
  assert.equal(res.code, 'LB_UPSTREAM_BAD_RESPONSE');
});

test('a backend slower than the response-header timeout answers 504', async (t) => {
  const slow = await startBackend(t, (_req, res) => {
    const timer = setTimeout(() => res.end('late'), 5_000);
    res.on('close', () => clearTimeout(timer));
  });
  const lb = await startLb(t, oneServiceConfig(slow.url, 'timeouts: { responseHeaders: 200ms },'));
  const started = Date.now();
  const res = await get(lb.url('web'));
  assert.equal(res.status, 504);
  assert.equal(res.code, 'LB_UPSTREAM_RESPONSE_TIMEOUT');
  assert.ok(Date.now() - started < 2_000);
});

test('a backend that dies mid-response cuts the client off, and lb keeps serving', async (t) => {
  const dying = await startBackend(t, (req, res) => {
    if (req.url === '/fine') return res.end('fine');
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const lb = await startLb(t, oneServiceConfig(dying.url));
  const res = await request(lb.url('web'));
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  assert.equal((await get(`${lb.url('web')}/fine`)).body, 'fine');
});
