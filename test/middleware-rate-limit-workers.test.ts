// With `workers: 2`, rateLimit applies to lb as a whole: the workers lease tokens from the
// primary's bucket, so the two together admit `burst` requests, not `burst` each. Connections are
// dealt to the workers in turn (NODE_CLUSTER_SCHED_POLICY=rr), so that limits counted per worker
// would admit twice as many.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange, statusCounts, type Answer } from './helpers/exchange.js';
import { spawnLb } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';

test('two workers together admit the burst of a rateLimit, sequential or concurrent', { timeout: 90_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await spawnLb(
    t,
    `workers: 2
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
middlewares:
  sequential: { rateLimit: { average: 1, period: 1h, burst: 10 } }
  concurrent: { rateLimit: { average: 1, period: 1h, burst: 15 } }
routers:
  seq: { entrypoint: web, match: { pathPrefix: /seq }, middlewares: [sequential], service: svc }
  conc: { entrypoint: web, match: { pathPrefix: /conc }, middlewares: [concurrent], service: svc }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`,
    [],
    { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr' },
  );
  const port = lb.port('web');
  const sequential: Answer[] = [];
  for (let i = 0; i < 40; i++) sequential.push(await exchange(port, { path: '/seq' }));
  assert.deepEqual(statusCounts(sequential), { 200: 10, 429: 30 });

  const concurrent = await Promise.all(Array.from({ length: 60 }, () => exchange(port, { path: '/conc' })));
  assert.deepEqual(statusCounts(concurrent), { 200: 15, 429: 45 });
  assert.ok(concurrent.filter((a) => a.status === 429).every((a) => Number(a.headers['retry-after']) > 3_000), 'refusals say when the next token is due');
});
