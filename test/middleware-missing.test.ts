// A router that names a middleware no provider defines never serves unprotected: every request
// answers 500 with lb-error LB_MIDDLEWARE_MISSING, and /api/state says which router and name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { requestPaths, send } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';

test('a router naming a middleware that no provider defines answers 500 middleware_missing and is reported', { timeout: 30_000 }, async (t) => {
  let reached = 0;
  const backend = await startBackend(t, (_req, res) => {
    reached++;
    res.end('secret');
  });
  const lb = await startLb(t, lbYaml(`
middlewares:
  tag: { headers: { customRequestHeaders: { X-Env: prod } } }
routers:
  admin: { entrypoint: web, service: svc, middlewares: [tag, auth@docker] }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const res = await send(lb.port('web'), path, '/');
    assert.equal(res.status, 500, path);
    assert.equal(res.headers['lb-error'], 'LB_MIDDLEWARE_MISSING', path);
    assert.match(res.body, /auth@docker/, path);
  }
  assert.equal(reached, 0, 'nothing reached the server');
  const state = (await (await request(`${lb.url('admin')}/api/state`)).body.json()) as {
    missingMiddlewares: Array<{ router: string; middleware: string }>;
    middlewares: Array<{ name: string; type: string }>;
    routers: Array<{ name: string; middlewares: string[] }>;
  };
  assert.deepEqual(state.missingMiddlewares.map(({ router, middleware }) => ({ router, middleware })), [{ router: 'admin', middleware: 'auth@docker' }]);
  assert.deepEqual(state.middlewares, [{ name: 'tag@file', type: 'headers' }]);
  assert.deepEqual(state.routers.find((r) => r.name === 'admin')?.middlewares, ['tag@file', 'auth@docker']);
});
