// With `workers: 2`, inFlightReq applies to lb as a whole: slots are leased from the primary, so
// the two workers together hold `amount` requests of a source, not `amount` each. Connections
// are dealt to the workers in turn (NODE_CLUSTER_SCHED_POLICY=rr).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange, statusCounts } from './helpers/exchange.js';
import { spawnLb } from './helpers/lb-process.js';
import { holdingBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('two workers together hold the amount of an inFlightReq, and slots freed on one serve the other', { timeout: 90_000 }, async (t) => {
  const backend = await holdingBackend(t);
  const held = backend.held;
  const lb = await spawnLb(
    t,
    `workers: 2
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
middlewares:
  three: { inFlightReq: { amount: 3 } }
routers: { app: { entrypoint: web, middlewares: [three], service: svc } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`,
    [],
    { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr' },
  );
  const port = lb.port('web');
  // One after another, so that the connections' turns are known: worker 1, 2, 1.
  const holding = [];
  for (let i = 0; i < 3; i++) {
    holding.push(exchange(port, { path: '/hold' }));
    await eventually(() => held.length === i + 1, `request ${i + 1} to be held`);
  }
  const refused = [];
  for (let i = 0; i < 4; i++) refused.push(await exchange(port, { path: '/quick' }));
  assert.deepEqual(statusCounts(refused), { 429: 4 }, 'neither worker has a slot left');

  // A slot freed on one worker serves requests on both.
  held.shift()!.end('done');
  assert.equal((await holding[0])!.status, 200);
  const after = [];
  for (let i = 0; i < 4; i++) after.push(await exchange(port, { path: '/quick' }));
  assert.deepEqual(statusCounts(after), { 200: 4 });
  for (const res of held.splice(0)) res.end('done');
  assert.deepEqual(statusCounts(await Promise.all(holding)), { 200: 3 });
});
