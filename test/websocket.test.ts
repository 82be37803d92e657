import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('a WebSocket echoes through lb, routed like any request, with X-Forwarded-For', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: backend.server });
  t.after(() => wss.close());
  let upgradeHeaders: Record<string, unknown> = {};
  wss.on('connection', (socket, req) => {
    upgradeHeaders = req.headers;
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  const lb = await startLb(t, lbYaml(`
routers: { ws: { entrypoint: web, match: { host: "ws.example.com", pathPrefix: "/chat" }, service: chat } }
services: { chat: { servers: [ { url: "${backend.url}" } ] } }
`));
  const client = new WebSocket(`ws://127.0.0.1:${lb.port('web')}/chat`, { headers: { host: 'ws.example.com' } });
  t.after(() => client.terminate());
  await once(client, 'open');
  const inFlight = () => lb.control.snapshot.services.get('chat')!.backends[0]!.inFlight;
  assert.equal(inFlight(), 1, 'an open tunnel counts as in flight');
  for (const message of ['hello', 'x'.repeat(100_000)]) {
    client.send(message);
    const [reply] = await once(client, 'message');
    assert.equal(String(reply), message);
  }
  assert.equal(upgradeHeaders['x-forwarded-for'], '127.0.0.1');
  assert.equal(upgradeHeaders.host, 'ws.example.com');
  client.close();
  await once(client, 'close');
  await eventually(() => inFlight() === 0, 'the closed tunnel to leave the in-flight count', 2_000);
});

test('an upgrade with no matching router gets 404', async (t) => {
  const lb = await startLb(t, lbYaml());
  const client = new WebSocket(`ws://127.0.0.1:${lb.port('web')}/`);
  client.on('error', () => undefined);
  const [, res] = await once(client, 'unexpected-response');
  assert.equal(res.statusCode, 404);
  client.terminate();
});
