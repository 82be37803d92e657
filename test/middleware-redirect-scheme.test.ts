// redirectScheme sends requests that came over http to https (the port unless it is 443), with
// the status that keeps the method; requests already on the scheme pass.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('redirectScheme redirects to the other scheme and passes requests on it', { timeout: 30_000 }, async (t) => {
  let reached = 0;
  const backend = await echoBackend(t);
  backend.server.prependListener('request', () => reached++);
  const lb = await startLb(t, lbYaml(`
middlewares:
  https: { redirectScheme: { scheme: https, port: 8443, permanent: true } }
  https-default: { redirectScheme: { scheme: https } }
  http: { redirectScheme: { scheme: http } }
routers:
  permanent: { entrypoint: web, service: svc, match: { host: p.test }, middlewares: [https] }
  temporary: { entrypoint: web, service: svc, match: { host: t.test }, middlewares: [https-default] }
  same: { entrypoint: web, service: svc, match: { host: s.test }, middlewares: [http] }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const get = await send(lb.port('web'), path, '/a?b=1', { host: 'p.test:8080' });
    assert.equal(get.status, 301, path);
    assert.equal(get.headers.location, 'https://p.test:8443/a?b=1', path);
    const post = await send(lb.port('web'), path, '/form', { host: 'p.test', method: 'POST', body: 'x=1' });
    assert.equal(post.status, 308, `${path}: a POST stays a POST`);
    const temporary = await send(lb.port('web'), path, '/', { host: 't.test' });
    assert.equal(temporary.status, 302, path);
    assert.equal(temporary.headers.location, 'https://t.test/', `${path}: port 443 is left out`);
    const same = await send(lb.port('web'), path, '/here', { host: 's.test' });
    assert.equal(same.status, 200, path);
    assert.equal(echoed(same).url, '/here', path);
  }
  assert.equal(reached, 2, 'only the requests already on their scheme reached the server');
});
