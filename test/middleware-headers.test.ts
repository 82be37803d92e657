// headers: customRequestHeaders reach the server, customResponseHeaders the client; an empty
// value removes the header, on both HTTP/1.1 request paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('headers sets and removes request and response headers', { timeout: 30_000 }, async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  secure:
    headers:
      customRequestHeaders: { X-Env: prod, X-Drop: "", User-Agent: lb-test }
      customResponseHeaders: { X-Frame-Options: DENY, Server: "", X-Backend: replaced }
routers: { r: { entrypoint: web, service: svc, middlewares: [secure] } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const res = await send(lb.port('web'), path, '/', { headers: ['X-Drop: from-client', 'User-Agent: curl', 'X-Keep: yes'] });
    assert.equal(res.status, 200, path);
    const seen = echoed(res);
    assert.equal(seen.headers['x-env'], 'prod', path);
    assert.equal(seen.headers['x-drop'], undefined, `${path}: an empty value removes the client's header`);
    assert.equal(seen.headers['user-agent'], 'lb-test', `${path}: a value replaces the client's`);
    assert.equal(seen.headers['x-keep'], 'yes', path);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', `${path}: X-Forwarded-* are still lb's`);
    assert.equal(res.headers['x-frame-options'], 'DENY', path);
    assert.equal(res.headers.server, undefined, `${path}: Server: "" removes the server's`);
    assert.equal(res.headers['x-backend'], 'replaced', path);
    assert.equal(res.headers['content-type'], 'application/json', `${path}: other headers pass`);
  }
});
