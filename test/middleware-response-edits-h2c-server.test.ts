// A router's response edits come back in the response head, whatever the server speaks: from an
// h2c:// server as from an HTTP/1.1 one they reach the client on both HTTP/1.1 request paths, and
// a body middleware (compress) sees the head as edited: a Content-Type the headers middleware
// sets is the one compress judges.
import assert from 'node:assert/strict';
import { createServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, requestPaths, send } from './helpers/middleware.js';

const body = 'x'.repeat(4096);

test('response edits reach the client from h2c and HTTP/1.1 servers, and compress sees the edited head', { timeout: 30_000 }, async (t) => {
  // An h2c server whose responses say they are octets: compress leaves those alone.
  const h2 = createServer();
  h2.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', server: 'h2-server', 'x-backend': 'h2' });
    stream.end(body);
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => h2.close(resolve)));
  const h1 = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares:
  tag: { headers: { customResponseHeaders: { X-Frame-Options: DENY, Server: "", Content-Type: "text/plain" } } }
  squeeze: { compress: { encodings: [gzip], minResponseBodyBytes: 1024 } }
routers:
  h2: { entrypoint: web, match: { pathPrefix: /h2 }, service: h2, middlewares: [squeeze, tag] }
  h1: { entrypoint: web, match: { pathPrefix: /h1 }, service: h1, middlewares: [tag] }
services:
  h2: { servers: [ { url: "h2c://127.0.0.1:${(h2.address() as AddressInfo).port}" } ] }
  h1: { servers: [ { url: "${h1.url}" } ] }
`));
  for (const path of requestPaths) {
    const fromH2 = await send(lb.port('web'), path, '/h2', { headers: ['Accept-Encoding: gzip'] });
    assert.equal(fromH2.status, 200, path);
    assert.equal(fromH2.headers['x-frame-options'], 'DENY', `${path}: set on an h2c server's response`);
    assert.equal(fromH2.headers.server, undefined, `${path}: removed from an h2c server's response`);
    assert.equal(fromH2.headers['x-backend'], 'h2', `${path}: the server's other headers stay`);
    assert.equal(fromH2.headers['content-type'], 'text/plain', path);
    assert.equal(fromH2.headers['content-encoding'], 'gzip', `${path}: compress judged the edited Content-Type`);
    const fromH1 = await send(lb.port('web'), path, '/h1');
    assert.equal(fromH1.headers['x-frame-options'], 'DENY', path);
    assert.equal(fromH1.headers.server, undefined, path);
    assert.equal(fromH1.headers['x-backend'], '1', path);
  }
});
