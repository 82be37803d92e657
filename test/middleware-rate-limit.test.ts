// rateLimit: a token bucket per source. Each source gets `burst` requests, then 429 with
// Retry-After until tokens refill; another source (here another client address) has its own
// bucket, on either client path. Counted, not timed: the refill (1 an hour) cannot add a token during the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange, statusCounts } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { send } from './helpers/middleware.js';
import { namedBackend } from './helpers/servers.js';

test('rateLimit lets each source through burst times, then answers 429 with Retry-After', { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(
    t,
    lbYaml(`
middlewares:
  api-limit: { rateLimit: { average: 1, period: 1h, burst: 4 } }
routers: { api: { entrypoint: web, middlewares: [api-limit], service: svc } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`),
  );
  const port = lb.port('web');
  const first = [];
  for (let i = 0; i < 10; i++) first.push(await exchange(port, { localAddress: '127.0.0.2' }));
  assert.deepEqual(statusCounts(first), { 200: 4, 429: 6 });
  assert.deepEqual(first.map((a) => a.status).slice(0, 4), [200, 200, 200, 200], 'the first requests pass');
  const refused = first[9]!;
  assert.equal(refused.headers['lb-error'], 'LB_RATE_LIMITED');
  // One token an hour: the next is due in just under an hour.
  const retryAfter = Number(refused.headers['retry-after']);
  assert.ok(retryAfter > 3_500 && retryAfter <= 3_600, `Retry-After: ${refused.headers['retry-after']}`);

  const other = [];
  for (let i = 0; i < 6; i++) other.push(await exchange(port, { localAddress: '127.0.0.3' }));
  assert.deepEqual(statusCounts(other), { 200: 4, 429: 2 }, 'another client address has a bucket of its own');

  // Node's parser (the requests the fast path leaves to it) goes through the same bucket.
  const viaNode = [];
  for (let i = 0; i < 5; i++) viaNode.push(await send(port, 'node', '/'));
  assert.deepEqual(viaNode.map((r) => r.status), [200, 200, 200, 200, 429]);
  assert.equal(viaNode[4]!.headers['lb-error'], 'LB_RATE_LIMITED');
  assert.ok(Number(viaNode[4]!.headers['retry-after']) > 3_500);
});
