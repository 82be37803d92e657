// stripPrefix removes the first listed prefix the path starts with, keeps the query, and tells
// the server in X-Forwarded-Prefix, which a client cannot forge.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('stripPrefix strips the first matching prefix and sets X-Forwarded-Prefix', { timeout: 30_000 }, async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  strip: { stripPrefix: { prefixes: [/api/v1, /api] } }
routers: { r: { entrypoint: web, service: svc, middlewares: [strip] } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const v1 = echoed(await send(lb.port('web'), path, '/api/v1/users?id=7'));
    assert.equal(v1.url, '/users?id=7', path);
    assert.equal(v1.headers['x-forwarded-prefix'], '/api/v1', path);
    const bare = echoed(await send(lb.port('web'), path, '/api'));
    assert.equal(bare.url, '/', `${path}: the path keeps its leading slash`);
    assert.equal(bare.headers['x-forwarded-prefix'], '/api', path);
    const other = echoed(await send(lb.port('web'), path, '/static/app.js', { headers: ['X-Forwarded-Prefix: /forged'] }));
    assert.equal(other.url, '/static/app.js', `${path}: a path without the prefixes is unchanged`);
    assert.equal(other.headers['x-forwarded-prefix'], undefined, `${path}: an untrusted client's own X-Forwarded-Prefix is dropped`);
  }
});
