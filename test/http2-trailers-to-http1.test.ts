// Trailers from an HTTP/2 server to HTTP/1.1 clients: in the last chunk of a chunked response
// (RFC 9112 §7.1.2), on the fast path and on Node's path (an Expect: 100-continue upload) alike,
// without fields that route or frame the message (nghttp2 itself refuses content-length and
// connection-specific ones in trailers); dropped where the response is not chunked (an HTTP/1.0
// client, a body with a content-length).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';

/** An h2c server whose responses end with trailers; `/sized` sends a content-length, `/grpc` a trailers-only-like status. */
async function trailerServer(t: TestContext) {
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('end', () => {
      const sized = headers[':path'] === '/sized';
      stream.respond({ ':status': 200, 'content-type': 'text/plain', ...(sized ? { 'content-length': '5' } : {}) }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'sha256=abc', 'grpc-message': 'caf%C3%A9', host: 'evil.test', trailer: 'x-checksum' }));
      stream.end('hello');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

/** What follows the head of a raw response: the body as sent on the wire. */
const bodyOf = (text: string) => text.slice(text.indexOf('\r\n\r\n') + 4);

test('an HTTP/1.1 client gets an HTTP/2 server\'s trailers in the last chunk; HTTP/1.0 and sized responses drop them', async (t) => {
  const port = await trailerServer(t);
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "h2c://127.0.0.1:${port}" } ] } }
`));
  const wanted = '5\r\nhello\r\n0\r\nx-checksum: sha256=abc\r\ngrpc-message: caf%C3%A9\r\n\r\n';

  const fast = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: app.test\r\nTE: trailers\r\nConnection: close\r\n\r\n');
  assert.match(fast.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(fast.text, /\r\nTransfer-Encoding: chunked\r\n/i);
  assert.equal(bodyOf(fast.text), wanted, 'the trailers, without host and trailer, end the chunked body');

  const noTe = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.equal(bodyOf(noTe.text), wanted, 'trailers are part of chunked coding, which every HTTP/1.1 client reads: no TE needed, as from an HTTP/1.1 server');

  const nodePath = await rawRequest(lb.port('web'), 'POST / HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
  assert.match(nodePath.text, /HTTP\/1\.1 200 OK\r\n/);
  assert.match(nodePath.text, /\r\nx-checksum: sha256=abc\r\n/, 'Node\'s path (llhttp) writes them in its last chunk too');
  assert.doesNotMatch(bodyOf(nodePath.text.slice(nodePath.text.lastIndexOf('HTTP/1.1 200'))), /evil.test/);

  const old = await rawRequest(lb.port('web'), 'GET / HTTP/1.0\r\nHost: app.test\r\n\r\n');
  assert.match(old.text, /^HTTP\/1\.[01] 200/);
  assert.equal(bodyOf(old.text), 'hello', 'an HTTP/1.0 client reads no chunks: the trailers are dropped');

  const sized = await rawRequest(lb.port('web'), 'GET /sized HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.match(sized.text, /\r\ncontent-length: 5\r\n/i);
  assert.equal(bodyOf(sized.text), 'hello', 'a body with a length has nowhere to carry trailers');
});

test('an HTTP/2 client that reads trailers gets them through a router with header middlewares as well', async (t) => {
  const port = await trailerServer(t);
  const lb = await startLb(t, lbYaml(`
middlewares: { tag: { headers: { customResponseHeaders: { X-Frame-Options: DENY } } } }
routers: { all: { entrypoint: web, service: app, middlewares: [tag] } }
services: { app: { servers: [ { url: "h2c://127.0.0.1:${port}" } ] } }
`, { web: 'http2: { cleartext: true }' }));
  const stream = h2Session(t, lb.url('web')).request({ ':path': '/', te: 'trailers' });
  const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  assert.equal(headers['x-frame-options'], 'DENY');
  stream.resume();
  const [trailers] = (await once(stream, 'trailers')) as [IncomingHttpHeaders];
  assert.equal(trailers['x-checksum'], 'sha256=abc');
});
