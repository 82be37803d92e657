import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { spawnLb } from './helpers/lb-process.js';
import { startBackend, startTcpServer } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

function config(httpUrl: string, tcpPort: number, shutdownTimeout: string) {
  return lbYaml(`
routers:
  app: { entrypoint: web, service: app }
  db: { entrypoint: db, service: db }
services:
  app: { servers: [ { url: "${httpUrl}" } ] }
  db: { servers: [ { address: "127.0.0.1:${tcpPort}" } ] }
shutdownTimeout: ${shutdownTimeout}
`, { entrypoints: { db: 'protocol: tcp' } });
}

test('SIGTERM: /healthz turns 503, accepted requests complete with Connection: close, tunnels close at shutdownTimeout, exit 0', { timeout: 60_000 }, async (t) => {
  // /slow is held until the test releases it, after SIGTERM: those requests are in flight throughout.
  const held: Array<() => void> = [];
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    if (req.url === '/slow') held.push(() => res.end('done'));
    else res.end('done');
  });
  const tcp = await startTcpServer(t, (socket) => socket.pipe(socket));
  const lb = await spawnLb(t, config(backend.url, tcp.port, '2s'));
  const web = `http://127.0.0.1:${lb.port('web')}`;
  const tunnel = connect(lb.port('db'), '127.0.0.1');
  tunnel.on('error', () => undefined);
  await new Promise((resolve) => tunnel.once('connect', resolve));
  const tunnelClosed = new Promise<number>((resolve) => tunnel.once('close', () => resolve(Date.now())));

  const inFlight = Array.from({ length: 10 }, () => request(`${web}/slow`).then(async (res) => ({ status: res.statusCode, connection: res.headers.connection, body: await res.body.text() })));
  await eventually(() => held.length === 10, 'the 10 requests to reach the backend');
  const signalled = Date.now();
  lb.child.kill('SIGTERM');
  await lb.logged('shutting down: draining open requests');

  const health = await request(`http://127.0.0.1:${lb.port('admin')}/healthz`);
  assert.equal(health.statusCode, 503, '/healthz must fail at once so that an upstream balancer stops sending');
  await health.body.text();
  await assert.rejects(request(`${web}/`, { reset: true }), /ECONNREFUSED/, 'new connections are refused');
  for (const finish of held) finish();

  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers, Array.from({ length: 10 }, () => ({ status: 200, connection: 'close', body: 'done' })));
  const closedAt = await tunnelClosed;
  t.diagnostic(`TCP tunnel closed ${closedAt - signalled} ms after SIGTERM (shutdownTimeout 2s)`);
  assert.ok(closedAt - signalled >= 1_800 && closedAt - signalled < 4_000);
  assert.equal(await lb.exited, 0);
});

test('a second signal exits at once', { timeout: 60_000 }, async (t) => {
  let arrived = false;
  const backend = await startBackend(t, (req) => ((arrived = true), req.resume()));
  const tcp = await startTcpServer(t, () => undefined);
  const lb = await spawnLb(t, config(backend.url, tcp.port, '30s'));
  const hanging = request(`http://127.0.0.1:${lb.port('web')}/`).catch((err: Error) => err);
  await eventually(() => arrived, 'the request to reach the backend');
  lb.child.kill('SIGTERM');
  await lb.logged('shutting down: draining open requests');
  const started = Date.now();
  lb.child.kill('SIGTERM');
  assert.equal(await lb.exited, 130);
  assert.ok(Date.now() - started < 5_000, 'exits at once, not after shutdownTimeout (30s)');
  await hanging;
});
