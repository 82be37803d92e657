// A WebSocket upgrade goes through its router's middlewares like any request: without
// credentials basicAuth refuses it (no tunnel opens), with them the tunnel opens on the
// rewritten path with the headers the middlewares set, and Authorization stays behind. The
// server's answer, the 101 and a refusal alike, gets the response headers they set.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

test('upgrades run the request phase of their router\'s middlewares', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: backend.server });
  t.after(() => wss.close());
  const upgrades: IncomingMessage[] = [];
  wss.on('headers', (headers) => headers.push('X-Powered-By: ws'));
  wss.on('connection', (socket, req) => {
    upgrades.push(req);
    socket.on('message', (data) => socket.send(data));
  });
  const lb = await startLb(t, lbYaml(`
middlewares:
  auth: { basicAuth: { users: ["ops:$2y$05$TItCS.H9opFaFABDwe0Ne.Dwwqvsw55OgCL2mDLEVU2hEiKE62M5K"] } }
  strip: { stripPrefix: { prefixes: [/ws] } }
  tag: { headers: { customRequestHeaders: { X-Env: prod }, customResponseHeaders: { X-Frame-Options: DENY, X-Powered-By: "" } } }
routers: { chat: { entrypoint: web, service: chat, middlewares: [auth, strip, tag] } }
services: { chat: { servers: [ { url: "${backend.url}" } ] } }
`));
  const url = `ws://127.0.0.1:${lb.port('web')}/ws/room`;
  const refused = new WebSocket(url);
  refused.on('error', () => undefined);
  const [, res] = await once(refused, 'unexpected-response');
  assert.equal(res.statusCode, 401);
  assert.match(String(res.headers['www-authenticate']), /^Basic realm=/);
  refused.terminate();

  const client = new WebSocket(url, { headers: { authorization: `Basic ${Buffer.from('ops:pw-ops').toString('base64')}` } });
  t.after(() => client.terminate());
  // 'open' follows 'upgrade' in the same tick: both are awaited from here.
  const opened = once(client, 'open');
  const [answer] = (await once(client, 'upgrade')) as [IncomingMessage];
  assert.equal(answer.statusCode, 101);
  assert.equal(answer.headers['x-frame-options'], 'DENY', 'the 101 carries the header the middleware sets');
  assert.equal(answer.headers['x-powered-by'], undefined, 'and not the one it removes');
  await opened;
  client.send('hello');
  const [reply] = await once(client, 'message');
  assert.equal(String(reply), 'hello');
  assert.equal(upgrades.length, 1, 'only the authorised upgrade reached the server');
  assert.equal(upgrades[0]!.url, '/room');
  assert.equal(upgrades[0]!.headers['x-forwarded-prefix'], '/ws');
  assert.equal(upgrades[0]!.headers['x-env'], 'prod');
  assert.equal(upgrades[0]!.headers.authorization, undefined);
  client.close();
  await once(client, 'close');

  // A server that refuses the upgrade: its answer is edited too.
  backend.server.prependListener('upgrade', (req: IncomingMessage, socket) => {
    if (req.url === '/closed') socket.end('HTTP/1.1 403 Forbidden\r\nX-Powered-By: ws\r\nContent-Length: 0\r\n\r\n');
  });
  const declined = new WebSocket(`ws://127.0.0.1:${lb.port('web')}/ws/closed`, { headers: { authorization: `Basic ${Buffer.from('ops:pw-ops').toString('base64')}` } });
  declined.on('error', () => undefined);
  const [, refusal] = (await once(declined, 'unexpected-response')) as [unknown, IncomingMessage];
  assert.equal(refusal.statusCode, 403);
  assert.equal(refusal.headers['x-frame-options'], 'DENY');
  assert.equal(refusal.headers['x-powered-by'], undefined);
  declined.terminate();
});
