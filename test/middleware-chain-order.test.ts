// A router's middlewares run in the order listed, on both HTTP/1.1 request paths: a rewrite is
// seen by the middlewares after it, and every edit reaches the server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('middlewares run in the listed order on the fast path and on Node\'s parser path', { timeout: 30_000 }, async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  strip: { stripPrefix: { prefixes: [/api] } }
  legacy: { replacePathRegex: { regex: "^/old/(.*)", replacement: "/new/$1" } }
  tag: { headers: { customRequestHeaders: { X-Env: prod } } }
routers:
  r: { entrypoint: web, service: svc, middlewares: [strip, legacy, tag] }
  plain: { entrypoint: web, service: svc, match: { pathPrefix: /plain } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const seen = echoed(await send(lb.port('web'), path, '/api/old/x?q=1'));
    assert.equal(seen.url, '/new/x?q=1', `${path}: stripPrefix, then replacePathRegex on what stripPrefix left`);
    assert.equal(seen.headers['x-forwarded-prefix'], '/api', path);
    assert.equal(seen.headers['x-replaced-path'], '/old/x', path);
    assert.equal(seen.headers['x-env'], 'prod', path);
    const plain = echoed(await send(lb.port('web'), path, '/plain/old/x'));
    assert.equal(plain.url, '/plain/old/x', `${path}: a router without middlewares forwards as it came`);
    assert.equal(plain.headers['x-env'], undefined, path);
  }
});
