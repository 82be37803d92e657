import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { spawnLb } from './helpers/lb-process.js';
import { startBackend, startTcpServer } from './helpers/servers.js';

function config(httpUrl: string, tcpPort: number, shutdownTimeout: string) {
  return `
entrypoints:
  web: { address: "127.0.0.1:0" }
  db: { address: "127.0.0.1:0", protocol: tcp }
admin: { address: "127.0.0.1:0" }
routers:
  app: { entrypoint: web, service: app }
  db: { entrypoint: db, service: db }
services:
  app: { servers: [ { url: "${httpUrl}" } ] }
  db: { servers: [ { address: "127.0.0.1:${tcpPort}" } ] }
shutdownTimeout: ${shutdownTimeout}
`;
}

test('SIGTERM: /healthz turns 503, accepted requests complete with Connection: close, tunnels close at shutdownTimeout, exit 0', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    setTimeout(() => res.end('done'), req.url === '/slow' ? 800 : 1);
  });
  const tcp = await startTcpServer(t, (socket) => socket.pipe(socket));
  const lb = await spawnLb(t, config(backend.url, tcp.port, '2s'));
  const web = `http://127.0.0.1:${lb.port('web')}`;
  const tunnel = connect(lb.port('db'), '127.0.0.1');
  tunnel.on('error', () => undefined);
  await new Promise((resolve) => tunnel.once('connect', resolve));
  const tunnelClosed = new Promise<number>((resolve) => tunnel.once('close', () => resolve(Date.now())));

  const inFlight = Array.from({ length: 10 }, () => request(`${web}/slow`).then(async (res) => ({ status: res.statusCode, connection: res.headers.connection, body: await res.body.text() })));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const signalled = Date.now();
  lb.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 100));

  const health = await request(`http://127.0.0.1:${lb.port('admin')}/healthz`);
  assert.equal(health.statusCode, 503, '/healthz must fail at once so that an upstream balancer stops sending');
  await health.body.text();
  await assert.rejects(request(`${web}/`, { reset: true }), /ECONNREFUSED/, 'new connections are refused');

  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers, Array.from({ length: 10 }, () => ({ status: 200, connection: 'close', body: 'done' })));
  const closedAt = await tunnelClosed;
  t.diagnostic(`TCP tunnel closed ${closedAt - signalled} ms after SIGTERM (shutdownTimeout 2s)`);
  assert.ok(closedAt - signalled >= 1_800 && closedAt - signalled < 4_000);
  assert.equal(await lb.exited, 0);
});

test('a second signal exits at once', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req) => req.resume());
  const tcp = await startTcpServer(t, () => undefined);
  const lb = await spawnLb(t, config(backend.url, tcp.port, '30s'));
  const hanging = request(`http://127.0.0.1:${lb.port('web')}/`).catch((err: Error) => err);
  await new Promise((resolve) => setTimeout(resolve, 200));
  lb.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  lb.child.kill('SIGTERM');
  assert.equal(await lb.exited, 130);
  assert.ok(Date.now() - started < 2_000);
  await hanging;
});
