// rateLimit behind a trusted proxy counts by the client address in X-Forwarded-For, and
// sourceCriterion.ipStrategy.depth picks which entry (from the right) is the source; from an
// untrusted peer the header is the peer's own word, and the peer itself is counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange, statusCounts } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';

test('rateLimit counts by the X-Forwarded-For entry that ipStrategy.depth picks, behind a trusted proxy', { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(
    t,
    lbYaml(
      `
middlewares:
  nearest: { rateLimit: { average: 1, period: 1h, burst: 2 } }
  second: { rateLimit: { average: 1, period: 1h, burst: 2, sourceCriterion: { ipStrategy: { depth: 2 } } } }
routers:
  nearest: { entrypoint: web, match: { host: nearest.test }, middlewares: [nearest], service: svc }
  second: { entrypoint: web, match: { host: second.test }, middlewares: [second], service: svc }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`,
      { web: 'trustedProxies: ["127.0.0.2/32"]' },
    ),
  );
  const port = lb.port('web');
  const burst = async (host: string, forwardedFor: string, localAddress = '127.0.0.2') => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await exchange(port, { localAddress, headers: { host, 'x-forwarded-for': forwardedFor } }));
    return statusCounts(answers);
  };

  // No depth: the nearest entry that is not a trusted proxy.
  assert.deepEqual(await burst('nearest.test', '198.51.100.1, 203.0.113.5'), { 200: 2, 429: 1 });
  assert.deepEqual(await burst('nearest.test', '198.51.100.1, 203.0.113.6'), { 200: 2, 429: 1 }, 'another nearest entry is another source');
  assert.deepEqual(await burst('nearest.test', '192.0.2.77, 203.0.113.6'), { 429: 3 }, 'the same nearest entry is the same source, whatever is left of it');

  // depth 2: the second entry from the right.
  assert.deepEqual(await burst('second.test', '198.51.100.1, 203.0.113.5'), { 200: 2, 429: 1 });
  assert.deepEqual(await burst('second.test', '198.51.100.1, 203.0.113.9'), { 429: 3 }, 'the same second entry is the same source');
  assert.deepEqual(await burst('second.test', '198.51.100.2, 203.0.113.5'), { 200: 2, 429: 1 }, 'another second entry is another source');

  // An untrusted peer's X-Forwarded-For is ignored: it is counted by its own address.
  assert.deepEqual(await burst('nearest.test', '198.51.100.50', '127.0.0.3'), { 200: 2, 429: 1 });
  assert.deepEqual(await burst('nearest.test', '198.51.100.51', '127.0.0.3'), { 429: 3 }, 'a new claimed address from an untrusted peer is still that peer');
});
