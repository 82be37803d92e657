// Upgrades feed passive outlier detection as plain requests do: a refused connect counts as a
// gateway failure, an upgrade that goes through resets the count.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { upgradeRequest } from './helpers/upgrade-request.js';
import { closedPort } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('refused upgrades eject a server after consecutiveFailures in a row, and an upgrade that goes through resets the count', async (t) => {
  const port = await closedPort();
  const lb = await startLb(t, `
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
routers: { chat: { entrypoint: web, service: chat } }
services:
  chat: { outlierDetection: { consecutiveFailures: 2 }, servers: [ { url: "http://127.0.0.1:${port}" } ] }
`);
  const server = () => lb.control.snapshot.services.get('chat')!.backends[0]!;
  const refusedUpgrade = async () => assert.equal(statusOf((await rawRequest(lb.port('web'), upgradeRequest())).text), 502);

  await refusedUpgrade();
  assert.equal(server().consecutiveFailures, 1, 'a refused upgrade counts as a gateway failure');

  // The server comes up on that port: an upgrade goes through, and the count starts again.
  const backend = createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server: backend });
  await new Promise<void>((resolve) => backend.listen(port, '127.0.0.1', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${lb.port('web')}/`);
  t.after(() => client.terminate());
  await once(client, 'open');
  assert.equal(server().consecutiveFailures, 0, 'an upgrade that goes through resets the count');
  client.close();
  await once(client, 'close');
  wss.close();
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));

  await refusedUpgrade();
  assert.ok(lb.control.isUsable('chat', server()), 'one failure after a success does not eject');
  await refusedUpgrade();
  await eventually(() => !lb.control.isUsable('chat', server()), 'the server to be ejected after two refused upgrades in a row');
});
