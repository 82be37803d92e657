import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readProxyHeader } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startHaproxy } from './helpers/haproxy.js';
import { startLb } from './helpers/lb.js';
import { spawnLb } from './helpers/lb-process.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend, startTcpServer } from './helpers/servers.js';
import { requireTool } from './helpers/tools.js';
import { eventually, within } from './helpers/wait.js';

// lb behind a real HAProxy that sends the PROXY protocol (send-proxy, send-proxy-v2). Every
// connection is on loopback, so the client connects from 127.0.0.2: HAProxy reaches lb from
// 127.0.0.1 (the trusted source), and the address lb must report is 127.0.0.2.
const client = '127.0.0.2';

/** A backend that answers with the X-Forwarded-For it got and the body it read. */
function echoBackend(t: Parameters<typeof startBackend>[0]) {
  return startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('latin1').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => res.end(`xff=${req.headers['x-forwarded-for']} body=${body}`));
  });
}

test('behind HAProxy send-proxy and send-proxy-v2, the client address in X-Forwarded-For and the access log is HAProxy\'s client, on every request of a connection', async (t) => {
  if (!requireTool(t, 'haproxy', 'haproxy')) return;
  const backend = await echoBackend(t);
  const log = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const lb = await startLb(t, lbYaml(`
accessLog: { enabled: true, path: "${log}" }
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }' }));
  const [v1, v2] = await startHaproxy(t, [
    { target: lb.port('web'), serverOptions: 'send-proxy' },
    { target: lb.port('web'), serverOptions: 'send-proxy-v2' },
  ]);
  // Two requests on one connection, the second with a body: the bytes after the header reach the
  // fast path as they were sent.
  const twoRequests = 'GET /first HTTP/1.1\r\nHost: app\r\n\r\nPOST /second HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';
  for (const port of [v1!, v2!]) {
    const { text } = await rawRequest(port, twoRequests, 5_000, client);
    assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 2, text);
    assert.match(text, /xff=127\.0\.0\.2 body=\r?\n?/);
    assert.match(text, /xff=127\.0\.0\.2 body=hello/);
  }
  // A request the fast path leaves to Node's parser (an uncommon method) keeps the address too.
  const deferred = await rawRequest(v2!, 'PURGE /cache HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', 5_000, client);
  assert.match(deferred.text, /^HTTP\/1\.1 200[\s\S]*xff=127\.0\.0\.2 /);
  // A client of its own (not in trustedIPs, no header) is served as itself.
  const direct = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', 5_000, '127.0.0.3');
  assert.equal(statusOf(direct.text), 200);
  assert.match(direct.text, /xff=127\.0\.0\.3/);
  await lb.stop(100);
  const clients = readFileSync(log, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { client: string }).client);
  assert.deepEqual(clients, [client, client, client, client, client, '127.0.0.3']);
});

test('a TCP entrypoint behind HAProxy send-proxy-v2 passes the client address on to a server that reads PROXY v1, with the client bytes untouched', async (t) => {
  if (!requireTool(t, 'haproxy', 'haproxy')) return;
  const seen: Array<{ source: string; port: number; bytes: string }> = [];
  const server = await startTcpServer(t, (socket) => {
    let bytes = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const header = readProxyHeader(bytes);
      if (header.status !== 'ok' || !bytes.includes('\n', header.length)) return;
      const rest = bytes.subarray(header.length).toString();
      seen.push({ source: header.addresses?.source.address ?? 'LOCAL', port: header.addresses?.source.port ?? 0, bytes: rest });
      socket.end(`echo ${rest}`);
    });
  });
  const lb = await startLb(t, lbYaml(`
routers: { db: { entrypoint: db, service: db } }
services: { db: { proxyProtocol: v1, servers: [ { address: "127.0.0.1:${server.port}" } ] } }
`, { web: false, entrypoints: { db: 'protocol: tcp, proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }' } }));
  const [port] = await startHaproxy(t, [{ target: lb.port('db'), serverOptions: 'send-proxy-v2' }]);
  const socket = connect({ port: port!, host: '127.0.0.1', localAddress: client });
  const reply = new Promise<string>((resolve) => {
    let text = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  const clientPort = socket.localPort;
  socket.write('SELECT 1;\n');
  assert.equal(await within(reply, 'the echo', 5_000), 'echo SELECT 1;\n');
  assert.deepEqual(seen.filter((s) => s.bytes !== ''), [{ source: client, port: clientPort, bytes: 'SELECT 1;\n' }]);
});

test('with workers: 2, every worker accepts PROXY v2 from HAProxy', async (t) => {
  if (!requireTool(t, 'haproxy', 'haproxy')) return;
  const backend = await echoBackend(t);
  const lb = await spawnLb(t, lbYaml(`
workers: 2
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }' }));
  const [port] = await startHaproxy(t, [{ target: lb.port('web'), serverOptions: 'send-proxy-v2' }]);
  const replies = await Promise.all(Array.from({ length: 12 }, () => rawRequest(port!, 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', 5_000, client)));
  for (const { text } of replies) {
    assert.equal(statusOf(text), 200, text);
    assert.match(text, /xff=127\.0\.0\.2 /);
  }
  const metrics = await eventually(async () => {
    const text = await (await fetch(`http://127.0.0.1:${lb.port('admin')}/metrics`)).text();
    return /lb_http_requests_total\{[^}]*code="200"[^}]*\} 12$/m.test(text) && text;
  }, 'the workers\' counts in /metrics');
  assert.doesNotMatch(metrics, /lb_proxy_protocol_rejected_total\{/);
});
