// lb assembles the heads it writes from pieces of the client's and the server's heads, edit
// lines and its own lines; short pieces are copied byte by byte and long ones by Buffer#copy
// (src/proxy/http1/bytes.ts). Pieces on both sides of that limit arrive whole and in place,
// with and without middleware edits, from HTTP/1.1 and HTTP/1.0 clients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoed, parseResponse, requestPaths, type Echoed } from './helpers/middleware.js';
import { rawRequest } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

const long = (letter: string, length: number) => letter.repeat(length);

test('heads built from short and long pieces arrive intact, with and without edits', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('X-Backend-Short', 'b');
      res.setHeader('X-Backend-Long', long('B', 300));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' } satisfies Echoed));
    });
  });
  const lb = await startLb(t, lbYaml(`
middlewares:
  strip: { stripPrefix: { prefixes: [/api] } }
  tag: { headers: { customRequestHeaders: { X-Edit-Short: e, X-Edit-Long: "${long('E', 200)}" }, customResponseHeaders: { X-Frame-Options: DENY, X-Resp-Long: "${long('R', 200)}" } } }
routers:
  edited: { entrypoint: web, match: { host: edited.test }, service: svc, middlewares: [strip, tag] }
  plain: { entrypoint: web, match: { host: plain.test }, service: svc }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  const clientLines = [`X-Client-Long: ${long('C', 400)}`, 'X-Drop: gone', 'X-Client-Short: c', `X-Client-Later: ${long('D', 150)}`];
  for (const path of requestPaths) {
    for (const version of ['1.1', '1.0'] as const) {
      for (const [host, target, upstreamTarget] of [
        ['edited.test', `/api/${long('p', 300)}?q=${long('q', 40)}`, `/${long('p', 300)}?q=${long('q', 40)}`],
        ['edited.test', '/api/x?q=1', '/x?q=1'],
        ['plain.test', `/${long('p', 300)}`, `/${long('p', 300)}`],
        ['plain.test', '/x', '/x'],
      ] as const) {
        const what = `${path} path, HTTP/${version}, ${host}${target.slice(0, 12)}… (${target.length} bytes)`;
        const lines = [`GET ${target} HTTP/${version}`, `Host: ${host}`, 'Connection: close, X-Drop', ...(path === 'node' ? ['Upgrade: not-a-protocol'] : []), ...clientLines];
        const response = parseResponse((await rawRequest(lb.port('web'), `${lines.join('\r\n')}\r\n\r\n`, 5_000)).text);
        assert.equal(response.status, 200, what);
        const seen = echoed(response);
        assert.equal(seen.url, upstreamTarget, what);
        assert.equal(seen.headers['x-client-long'], long('C', 400), what);
        assert.equal(seen.headers['x-client-short'], 'c', what);
        assert.equal(seen.headers['x-client-later'], long('D', 150), what);
        assert.equal(seen.headers['x-drop'], undefined, `${what}: a header named by Connection is hop-by-hop`);
        assert.equal(seen.headers.host, host, what);
        assert.equal(response.headers['x-backend-short'], 'b', what);
        assert.equal(response.headers['x-backend-long'], long('B', 300), what);
        if (host === 'edited.test') {
          assert.equal(seen.headers['x-edit-short'], 'e', what);
          assert.equal(seen.headers['x-edit-long'], long('E', 200), what);
          assert.equal(seen.headers['x-forwarded-prefix'], '/api', what);
          assert.equal(response.headers['x-frame-options'], 'DENY', what);
          assert.equal(response.headers['x-resp-long'], long('R', 200), what);
        } else {
          assert.equal(seen.headers['x-edit-short'], undefined, what);
          assert.equal(response.headers['x-frame-options'], undefined, what);
        }
      }
    }
  }
});
