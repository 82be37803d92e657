// Two headers middlewares that set the same response header: the response goes back through the
// chain in reverse, so the first listed edits last and its value wins (as in Traefik); each
// one's other edits stay, on both HTTP/1.1 request paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, requestPaths, send } from './helpers/middleware.js';

test('of two headers middlewares editing one response header, the first listed wins', { timeout: 30_000 }, async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  outer: { headers: { customResponseHeaders: { X-Who: outer, X-Outer: "yes" } } }
  inner: { headers: { customResponseHeaders: { X-Who: inner, X-Inner: "yes", Content-Type: "" } } }
routers: { r: { entrypoint: web, service: svc, middlewares: [outer, inner] } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const res = await send(lb.port('web'), path, '/');
    assert.equal(res.status, 200, path);
    assert.equal(res.headers['x-who'], 'outer', path);
    assert.equal(res.headers['x-outer'], 'yes', path);
    assert.equal(res.headers['x-inner'], 'yes', path);
    assert.equal(res.headers['content-type'], undefined, `${path}: the inner one's removal stays`);
  }
});
