// HTTP/2 streams go through a router's middlewares as HTTP/1.1 requests do: request edits
// (headers, stripPrefix) reach the server, response edits and compression reach the client, and a
// middleware's own answers (basicAuth's 401, rateLimit's 429 with Retry-After) go back on the stream.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

test('middlewares apply to HTTP/2 streams: request and response edits, compression, basicAuth and rateLimit answers', { timeout: 30_000 }, async (t) => {
  const big = JSON.stringify({ items: Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}` })) });
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-seen', `${req.url} ${req.headers['x-env'] ?? '-'} ${req.headers['x-forwarded-prefix'] ?? '-'}`);
      res.end(big);
    });
  });
  const lb = await startLb(t, lbYaml(`
middlewares:
  tag: { headers: { customRequestHeaders: { X-Env: prod }, customResponseHeaders: { X-Frame-Options: DENY } } }
  strip: { stripPrefix: { prefixes: [/api] } }
  squeeze: { compress: { encodings: [gzip] } }
  auth: { basicAuth: { users: ["ops:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="] } }
  limit: { rateLimit: { average: 1, period: 1m, burst: 2 } }
routers:
  open: { entrypoint: web, match: { pathPrefix: /api }, service: app, middlewares: [tag, strip, squeeze] }
  guarded: { entrypoint: web, match: { pathPrefix: /guarded }, service: app, middlewares: [auth] }
  limited: { entrypoint: web, match: { pathPrefix: /limited }, service: app, middlewares: [limit] }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'http2: { cleartext: true }' }));
  const session = h2Session(t, lb.url('web'));

  const edited = await h2Request(session, { ':path': '/api/items', 'accept-encoding': 'gzip' });
  assert.equal(edited.status, 200);
  assert.equal(edited.headers['x-seen'], '/items prod /api', 'the request edits reached the server');
  assert.equal(edited.headers['x-frame-options'], 'DENY');
  assert.equal(edited.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(edited.body).toString(), big, 'the compressed body decodes to the server\'s');

  assert.equal((await h2Request(session, { ':path': '/guarded' })).status, 401);
  // "password" in SHA1, base64: the {SHA} line above.
  const authorized = await h2Request(session, { ':path': '/guarded', authorization: `Basic ${Buffer.from('ops:password').toString('base64')}` });
  assert.equal(authorized.status, 200);

  const statuses: number[] = [];
  let retryAfter: unknown;
  for (let i = 0; i < 3; i++) {
    const res = await h2Request(session, { ':path': '/limited' });
    statuses.push(res.status);
    retryAfter ??= res.headers['retry-after'];
  }
  assert.deepEqual(statuses, [200, 200, 429], 'a burst of 2, then 429');
  assert.ok(Number(retryAfter) > 0, `Retry-After: ${String(retryAfter)}`);
});
