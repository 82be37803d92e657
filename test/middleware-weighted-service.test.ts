// A router's middlewares run before its weighted service chooses a service, and their edits,
// response headers included, apply to whichever service serves the request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('middlewares of a router whose service is weighted edit requests and responses of both services', { timeout: 30_000 }, async (t) => {
  const [one, two] = [await echoBackend(t), await echoBackend(t)];
  const lb = await startLb(t, lbYaml(`
middlewares:
  tag: { headers: { customRequestHeaders: { X-Env: prod }, customResponseHeaders: { X-Frame-Options: DENY } } }
routers: { r: { entrypoint: web, service: app, middlewares: [tag] } }
services:
  app: { weighted: { services: [ { name: one, weight: 1 }, { name: two, weight: 1 } ] } }
  one: { servers: [ { url: "${one.url}" } ] }
  two: { servers: [ { url: "${two.url}" } ] }
`));
  for (const path of requestPaths) {
    for (let i = 0; i < 4; i++) {
      const res = await send(lb.port('web'), path, '/');
      assert.equal(res.status, 200, path);
      assert.equal(echoed(res).headers['x-env'], 'prod', `${path}: the request edit`);
      assert.equal(res.headers['x-frame-options'], 'DENY', `${path}: the response edit`);
    }
  }
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  for (const service of ['one', 'two']) assert.match(metrics, new RegExp(`^lb_http_requests_total\\{[^}]*service="${service}"[^}]*\\} [1-9]`, 'm'), `${service} served some`);
});
