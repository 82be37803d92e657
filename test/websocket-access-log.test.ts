// An upgrade writes one access-log line when its tunnel ends, as a plain request does when it is answered.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { upgradeRequest } from './helpers/upgrade-request.js';
import { closedPort, startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('an upgrade is logged once its tunnel ends, with 101, the bytes each way and its duration; a failed one with its error', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: backend.server });
  t.after(() => wss.close());
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const lb = await startLb(t, `
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
accessLog: { enabled: true, path: "${file}" }
routers:
  chat: { entrypoint: web, match: { pathPrefix: "/chat" }, service: chat }
  gone: { entrypoint: web, match: { pathPrefix: "/gone" }, service: gone }
services:
  chat: { servers: [ { url: "${backend.url}" } ] }
  gone: { servers: [ { url: "http://127.0.0.1:${await closedPort()}" } ] }
`);
  const client = new WebSocket(`ws://127.0.0.1:${lb.port('web')}/chat?token=secret`);
  t.after(() => client.terminate());
  await once(client, 'open');
  client.send('x'.repeat(1000));
  await once(client, 'message');
  client.close();
  await once(client, 'close');
  assert.equal(statusOf((await rawRequest(lb.port('web'), upgradeRequest('/gone'))).text), 502);
  assert.equal(statusOf((await rawRequest(lb.port('web'), upgradeRequest('/nowhere'))).text), 404);
  // The tunnel's line is written when lb sees the client connection close.
  await eventually(() => lb.control.snapshot.services.get('chat')!.backends[0]!.inFlight === 0, 'the tunnel to close in lb');
  await lb.stop(100);

  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const byPath = new Map(lines.map((line) => [line.path, line]));
  assert.equal(lines.length, 3, `one line per upgrade: ${JSON.stringify(lines)}`);
  const tunnel = byPath.get('/chat')!;
  assert.deepEqual(
    { status: tunnel.status, method: tunnel.method, router: tunnel.router, service: tunnel.service, backend: tunnel.backend, termination: tunnel.termination, error: tunnel.error },
    { status: 101, method: 'GET', router: 'chat', service: 'chat', backend: `127.0.0.1:${backend.port}`, termination: '--', error: undefined },
  );
  assert.ok(Number(tunnel.bytesIn) > 1000, `bytesIn ${tunnel.bytesIn}: the client's message went through the tunnel`);
  assert.ok(Number(tunnel.bytesOut) > 1000, `bytesOut ${tunnel.bytesOut}: the echo came back through the tunnel`);
  assert.equal(typeof tunnel.durationMs, 'number');
  const refused = byPath.get('/gone')!;
  assert.deepEqual({ status: refused.status, error: refused.error, termination: refused.termination }, { status: 502, error: 'connect_refused', termination: 'SC' });
  const unrouted = byPath.get('/nowhere')!;
  assert.deepEqual({ status: unrouted.status, error: unrouted.error, termination: unrouted.termination }, { status: 404, error: 'no_route', termination: 'PR' });
});
