// replacePathRegex rewrites a matching path (not the query) and sends the original in X-Replaced-Path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('replacePathRegex rewrites matching paths with groups and leaves others', { timeout: 30_000 }, async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  legacy: { replacePathRegex: { regex: "^/old/([^/]+)/(.*)", replacement: "/new/$2/$1" } }
routers: { r: { entrypoint: web, service: svc, middlewares: [legacy] } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const moved = echoed(await send(lb.port('web'), path, '/old/a/b/c?old=1'));
    assert.equal(moved.url, '/new/b/c/a?old=1', path);
    assert.equal(moved.headers['x-replaced-path'], '/old/a/b/c', path);
    const kept = echoed(await send(lb.port('web'), path, '/current/old/a/b'));
    assert.equal(kept.url, '/current/old/a/b', `${path}: the regex is anchored where it says so`);
    assert.equal(kept.headers['x-replaced-path'], undefined, path);
  }
});
