import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { connectionBudget } from '../src/proxy/connection-limits.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { launchLb } from './helpers/lb-process.js';
import { cliPath } from './helpers/lb-process.js';
import { namedBackend, startTcpServer } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// Connection limits: per entrypoint, per peer address, and the process's budget from its
// open-file limit. A connection above one is closed at once (HTTP: after a 503), counted, and
// lb goes on serving the others.

/** Opens a connection and resolves once it is open; what lb sends it is collected in `text`. */
function open(port: number, localAddress = '127.0.0.1'): Promise<Socket & { text: string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }) as Socket & { text: string; ended: Promise<void> };
    socket.text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (socket.text += chunk));
    socket.ended = new Promise((done) => socket.once('close', () => done()));
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function refused(metricsUrl: string, entrypoint: string, reason: string): Promise<number> {
  const text = await (await request(`${metricsUrl}/metrics`)).body.text();
  const line = new RegExp(`^lb_connections_refused_total\\{entrypoint="${entrypoint}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return Number(line?.[1] ?? 0);
}

test('maxConnections: the connections above it get a 503 and a close; the others are served', { timeout: 30_000 }, async (t) => {
  const backend = await namedBackend(t, 'ok');
  const echo = await startTcpServer(t, (socket) => socket.pipe(socket));
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app }, db: { entrypoint: db, service: db } }
services: { app: { servers: [ { url: "${backend.url}" } ] }, db: { servers: [ { address: "127.0.0.1:${echo.port}" } ] } }
`, { web: 'maxConnections: 3', entrypoints: { db: 'protocol: tcp, maxConnections: 1' } }));
  const held = await Promise.all([1, 2, 3].map(() => open(lb.port('web'))));
  t.after(() => held.forEach((s) => s.destroy()));
  await eventually(async () => ((await request(`${lb.url('admin')}/metrics`).then((r) => r.body.text())).includes('lb_entrypoint_open_connections{entrypoint="web",protocol="http"} 3') ? true : undefined), 'three connections open');
  const extra = await open(lb.port('web'));
  await extra.ended;
  assert.match(extra.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(extra.text, /\r\nConnection: close\r\n/);
  assert.equal(await refused(lb.url('admin'), 'web', 'max_connections'), 1);
  // One of the held connections still works; once one closes, a new one is served.
  held[0]!.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(() => (held[0]!.text.endsWith('ok') ? true : undefined), 'a held connection to be served');
  held[1]!.destroy();
  await eventually(async () => ((await request(lb.url('web')).then((r) => r.body.text()).catch(() => '')) === 'ok' ? true : undefined), 'a new connection to be served');

  const tunnel = await open(lb.port('db'));
  t.after(() => tunnel.destroy());
  tunnel.write('ping');
  await eventually(() => (tunnel.text === 'ping' ? true : undefined), 'the tunnel to echo');
  const second = await open(lb.port('db'));
  await second.ended;
  assert.equal(second.text, '', 'a TCP connection above the limit is closed without a byte');
  assert.equal(await refused(lb.url('admin'), 'db', 'max_connections'), 1);
});

test('maxConnectionsPerIP counts each peer address on its own', { timeout: 30_000 }, async (t) => {
  const backend = await namedBackend(t, 'ok');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'maxConnectionsPerIP: 2' }));
  const fromA = await Promise.all([open(lb.port('web'), '127.0.0.2'), open(lb.port('web'), '127.0.0.2')]);
  const fromB = await open(lb.port('web'), '127.0.0.3');
  t.after(() => [...fromA, fromB].forEach((s) => s.destroy()));
  const third = await open(lb.port('web'), '127.0.0.2');
  await third.ended;
  assert.match(third.text, /^HTTP\/1\.1 503/);
  fromB.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(() => (fromB.text.endsWith('ok') ? true : undefined), 'another address to be served');
  assert.equal(await refused(lb.url('admin'), 'web', 'max_connections_per_ip'), 1);
  fromA[0]!.destroy();
  await eventually(async () => {
    const again = await open(lb.port('web'), '127.0.0.2');
    again.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await again.ended;
    return again.text.endsWith('ok') ? true : undefined;
  }, 'the address to be served again once one of its connections closed');
});

test('under a low ulimit -n, lb refuses connections above its budget instead of running out of descriptors', { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'ok');
  const budget = connectionBudget(256);
  assert.equal(budget, 64);
  const lb = await launchLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`), (config) => ['sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${cliPath}" run --config "${config}"`]]);
  const sockets: Array<Awaited<ReturnType<typeof open>>> = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < 150; i++) sockets.push(await open(lb.port('web'), `127.0.0.${2 + (i % 50)}`));
  // Each held connection also asks for a server connection, as a busy client would.
  for (const socket of sockets) if (!socket.destroyed) socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(() => (sockets.filter((s) => s.text.endsWith('ok')).length >= budget - 1 ? true : undefined), 'the admitted connections to be served');
  await eventually(() => (sockets.filter((s) => /^HTTP\/1\.1 503/.test(s.text)).length >= 150 - budget ? true : undefined), 'the others to get a 503');
  const metrics = await (await request(`http://127.0.0.1:${lb.port('admin')}/metrics`)).body.text();
  const count = Number(/^lb_connections_refused_total\{entrypoint="web",reason="process_budget"\} (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(count >= 150 - budget, `refused ${count}`);
  assert.ok(!lb.logs.some((l) => /EMFILE/.test(JSON.stringify(l))), 'no EMFILE');
  for (const socket of sockets) socket.destroy();
  await eventually(async () => ((await request(`http://127.0.0.1:${lb.port('web')}/`).then((r) => r.body.text()).catch(() => '')) === 'ok' ? true : undefined), 'lb to serve again');
});
