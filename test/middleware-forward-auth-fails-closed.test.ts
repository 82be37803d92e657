// forwardAuth fails closed: an auth server that hangs answers 504 after the middleware's
// timeout, one that is down answers 503; neither lets a request reach the app.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { closedPort, startBackend } from './helpers/servers.js';

test('forwardAuth answers 504 when the auth server hangs and 503 when it is down', { timeout: 60_000 }, async (t) => {
  const hanging: ServerResponse[] = [];
  const auth = await startBackend(t, (_req, res) => hanging.push(res));
  t.after(() => hanging.forEach((res) => res.destroy()));
  let reached = 0;
  const backend = await startBackend(t, (_req, res) => {
    reached++;
    res.end('the app');
  });
  const down = await closedPort();
  const lb = await startLb(
    t,
    lbYaml(`
middlewares:
  slow-auth: { forwardAuth: { address: "${auth.url}/verify", timeout: 300ms } }
  no-auth: { forwardAuth: { address: "http://127.0.0.1:${down}/verify" } }
routers:
  slow: { entrypoint: web, match: { pathPrefix: /slow }, middlewares: [slow-auth], service: svc }
  down: { entrypoint: web, match: { pathPrefix: /down }, middlewares: [no-auth], service: svc }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`),
  );
  const port = lb.port('web');
  const slow = await exchange(port, { path: '/slow' });
  assert.equal(slow.status, 504);
  assert.equal(slow.headers['lb-error'], 'LB_AUTH_TIMEOUT');
  assert.equal(hanging.length, 1, 'the auth server was asked');
  const refused = await exchange(port, { path: '/down' });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['lb-error'], 'LB_AUTH_UNAVAILABLE');
  assert.equal(reached, 0, 'no request reached the app');
});
