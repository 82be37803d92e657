// redirectRegex matches the whole URL and redirects matching requests to the replacement.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';

test('redirectRegex redirects matching URLs and passes the rest', { timeout: 30_000 }, async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  to-www: { redirectRegex: { regex: "^http://example\\\\.com/(.*)", replacement: "https://www.example.com/$1", permanent: true } }
  moved: { redirectRegex: { regex: "^http://[^/]+/docs/(.*)", replacement: "https://docs.example.com/$1" } }
routers: { r: { entrypoint: web, service: svc, middlewares: [to-www, moved] } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  for (const path of requestPaths) {
    const www = await send(lb.port('web'), path, '/a/b?c=d', { host: 'example.com' });
    assert.equal(www.status, 301, path);
    assert.equal(www.headers.location, 'https://www.example.com/a/b?c=d', path);
    const docs = await send(lb.port('web'), path, '/docs/intro', { host: 'www.example.com' });
    assert.equal(docs.status, 302, path);
    assert.equal(docs.headers.location, 'https://docs.example.com/intro', path);
    const passed = await send(lb.port('web'), path, '/a', { host: 'www.example.com' });
    assert.equal(passed.status, 200, path);
    assert.equal(echoed(passed).url, '/a', path);
  }
});
