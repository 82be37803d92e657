// inFlightReq: at most `amount` requests of one source in flight; one more gets 429 with
// Retry-After, another source is not affected, and a request that ends frees its slot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { holdingBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('inFlightReq refuses a source its amount+1th concurrent request, and frees slots as requests end', { timeout: 60_000 }, async (t) => {
  const backend = await holdingBackend(t);
  const held = backend.held;
  const lb = await startLb(
    t,
    lbYaml(`
middlewares:
  two-at-a-time: { inFlightReq: { amount: 2 } }
routers: { app: { entrypoint: web, middlewares: [two-at-a-time], service: svc } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`),
  );
  const port = lb.port('web');
  const holding = [exchange(port, { path: '/hold', localAddress: '127.0.0.2' }), exchange(port, { path: '/hold', localAddress: '127.0.0.2' })];
  await eventually(() => held.length === 2, 'the backend to hold two requests');
  const third = await exchange(port, { path: '/quick', localAddress: '127.0.0.2' });
  assert.equal(third.status, 429);
  assert.equal(third.headers['lb-error'], 'LB_IN_FLIGHT_LIMITED');
  assert.equal(third.headers['retry-after'], '1');
  assert.equal((await exchange(port, { path: '/quick', localAddress: '127.0.0.3' })).status, 200, 'another source is not held back');

  held.shift()!.end('done');
  assert.equal((await holding[0])!.status, 200);
  assert.equal((await exchange(port, { path: '/quick', localAddress: '127.0.0.2' })).status, 200, 'a request that ended frees its slot');
  held.shift()!.end('done');
  await holding[1];
});
