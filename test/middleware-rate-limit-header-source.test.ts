// rateLimit with sourceCriterion.requestHeaderName: requests are counted by the value of the
// header (an API key), whatever address they come from; requests without it count by address.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange, statusCounts } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';

test('rateLimit counts requests by an API key header when sourceCriterion names it', { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(
    t,
    lbYaml(`
middlewares:
  per-key: { rateLimit: { average: 1, period: 1h, burst: 3, sourceCriterion: { requestHeaderName: X-Api-Key } } }
routers: { api: { entrypoint: web, middlewares: [per-key], service: svc } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`),
  );
  const port = lb.port('web');
  const keyA = [];
  // The same key from three addresses: one bucket.
  for (let i = 0; i < 6; i++) keyA.push(await exchange(port, { localAddress: `127.0.0.${2 + (i % 3)}`, headers: { 'x-api-key': 'key-a' } }));
  assert.deepEqual(statusCounts(keyA), { 200: 3, 429: 3 });
  const keyB = [];
  for (let i = 0; i < 4; i++) keyB.push(await exchange(port, { localAddress: '127.0.0.2', headers: { 'x-api-key': 'key-b' } }));
  assert.deepEqual(statusCounts(keyB), { 200: 3, 429: 1 }, 'another key has its own bucket');
  const keyless = [];
  for (let i = 0; i < 4; i++) keyless.push(await exchange(port, { localAddress: '127.0.0.5' }));
  assert.deepEqual(statusCounts(keyless), { 200: 3, 429: 1 }, 'without the header, the client address is the source');
});
