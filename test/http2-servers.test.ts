// HTTP/2 to servers: `h2c://` servers, and `https://` ones of services with `http2: true` (ALPN
// h2), reached by HTTP/1.1 and HTTP/2 clients alike; streams spread over sessions up to the
// server's SETTINGS_MAX_CONCURRENT_STREAMS; after a GOAWAY new requests take another session, and
// streams above its last stream id are sent again there.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSecureServer, createServer, type Http2Server, type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { closedPort } from './helpers/servers.js';
import { CertificateFolder } from './helpers/tls.js';

const bigBody = Buffer.alloc(2 * 1024 * 1024);
for (let i = 0; i < bigBody.length; i += 4) bigBody.writeUInt32LE(i, i);
const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer, session: ServerHttp2Session) => void;

/** An HTTP/2 server on loopback (h2c, or TLS with ALPN h2 only), closed when the test ends; `sessions`: the connections lb opened. */
async function startH2Server(t: TestContext, handler: Handler, options: { tls?: { cert: string; key: string }; maxConcurrentStreams?: number } = {}) {
  const settings = options.maxConcurrentStreams ? { maxConcurrentStreams: options.maxConcurrentStreams } : {};
  const server: Http2Server | Http2SecureServer = options.tls ? createSecureServer({ ...options.tls, settings }) : createServer({ settings });
  const sessions: ServerHttp2Session[] = [];
  server.on('session', (session: ServerHttp2Session) => {
    sessions.push(session);
    session.on('error', () => undefined);
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => handler(stream, headers, Buffer.concat(chunks), stream.session as ServerHttp2Session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, sessions };
}

/** Answers with what it saw: the request's fields, its body's length and digest, and which session it came on. */
const echo: Handler = (stream, headers, body, session) => {
  if (headers[':path'] === '/big') return void stream.respond({ ':status': 200 }), void stream.end(bigBody);
  stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'done' }));
  stream.end(JSON.stringify({ headers, length: body.length, digest: digest(body), session: (session as unknown as { id?: number }).id ?? 0 }));
};

const lbFor = (t: TestContext, servers: string, service = '') => startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { ${service} servers: [ ${servers} ] } }
`, { web: 'http2: { cleartext: true }' }));

test('an h2c:// server gets HTTP/1.1 clients\' requests as HTTP/2, chunked uploads decoded, with X-Forwarded-*; bodies come back intact', async (t) => {
  const server = await startH2Server(t, echo);
  const lb = await lbFor(t, `{ url: "h2c://127.0.0.1:${server.port}" }`);
  const upload = 'a'.repeat(1000);
  const res = await rawRequest(lb.port('web'), `POST /up?x=1 HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3e8\r\n${upload}\r\n0\r\n\r\n`);
  assert.match(res.text, /^HTTP\/1\.1 200/);
  const seen = JSON.parse(res.text.slice(res.text.indexOf('{'), res.text.lastIndexOf('}') + 1)) as { headers: Record<string, string>; length: number; digest: string };
  assert.equal(seen.headers[':method'], 'POST');
  assert.equal(seen.headers[':path'], '/up?x=1');
  assert.equal(seen.headers[':authority'], 'app.test');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['transfer-encoding'], undefined);
  assert.equal(seen.length, 1000);
  assert.equal(seen.digest, digest(Buffer.from(upload)));
  const big = await rawRequest(lb.port('web'), 'GET /big HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.match(big.text, /^HTTP\/1\.1 200/);
});

test('an HTTP/2 client that reads trailers (te: trailers) gets the h2c server\'s; a large body comes back intact', async (t) => {
  const server = await startH2Server(t, echo);
  const lb = await lbFor(t, `{ url: "h2c://127.0.0.1:${server.port}" }`);
  const session = h2Session(t, `http://127.0.0.1:${lb.port('web')}`);
  const trailers = new Promise<IncomingHttpHeaders>((resolve) => {
    const stream = session.request({ ':path': '/t', ':authority': 'app.test', te: 'trailers' });
    stream.on('trailers', resolve);
    stream.resume();
  });
  assert.equal((await trailers)['x-trailer'], 'done');
  const big = await h2Request(session, { ':path': '/big', ':authority': 'app.test' });
  assert.equal(digest(big.body), digest(bigBody));
});

test('an https:// server of a service with http2: true is spoken to in HTTP/2, negotiated by ALPN h2', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const cert = new CertificateFolder(t).certificate({ names: ['127.0.0.1'] });
  const server = await startH2Server(t, echo, { tls: { cert: cert.cert, key: cert.key } });
  const lb = await lbFor(t, `{ url: "https://127.0.0.1:${server.port}" }`, `http2: true, tls: { caFile: "${cert.certFile}" },`);
  const res = await rawRequest(lb.port('web'), 'GET /tls HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.match(res.text, /^HTTP\/1\.1 200/);
  assert.match(res.text, /"x-forwarded-for":"127\.0\.0\.1"/);
  assert.equal(server.sessions.length, 1);
});

test('streams are spread over sessions up to the server\'s SETTINGS_MAX_CONCURRENT_STREAMS', async (t) => {
  const server = await startH2Server(t, (stream) => setTimeout(() => (stream.respond({ ':status': 200 }), stream.end('slow')), 300), { maxConcurrentStreams: 2 });
  const lb = await lbFor(t, `{ url: "h2c://127.0.0.1:${server.port}" }`);
  const session = h2Session(t, `http://127.0.0.1:${lb.port('web')}`);
  // The first request lets lb learn the server's SETTINGS; then six at once.
  assert.equal((await h2Request(session, { ':path': '/first', ':authority': 'app.test' })).status, 200);
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => h2Request(session, { ':path': `/s${i}`, ':authority': 'app.test' })));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
  assert.ok(server.sessions.length >= 3, `${server.sessions.length} sessions for 6 streams of 2 each`);
});

test('after a GOAWAY, new requests take another session, and streams above its last stream id are sent again there', async (t) => {
  let goneAway = false;
  const server = await startH2Server(t, (stream, headers, _body, session) => {
    if (!goneAway && headers[':path'] === '/a') {
      goneAway = true;
      // The server accepted only this stream: the two others sent with it were not processed.
      session.goaway(0, stream.id);
      setTimeout(() => (stream.respond({ ':status': 200 }), stream.end('a')), 100);
      return;
    }
    stream.respond({ ':status': 200 });
    stream.end(String(headers[':path']));
  });
  const lb = await lbFor(t, `{ url: "h2c://127.0.0.1:${server.port}" }`);
  const session = h2Session(t, `http://127.0.0.1:${lb.port('web')}`);
  assert.equal((await h2Request(session, { ':path': '/warm', ':authority': 'app.test' })).status, 200);
  // Two POSTs (never retried on another server; their small bodies are read first, so they can be sent again) ride with /a on the same session.
  const answers = await Promise.all(['/a', '/b', '/c'].map((path) => path === '/a' ? h2Request(session, { ':path': path, ':authority': 'app.test' }) : h2Request(session, { ':method': 'POST', ':path': path, ':authority': 'app.test', 'content-length': '1' }, Buffer.from('x'))));
  assert.deepEqual(answers.map((a) => [a.status, String(a.body)]), [[200, 'a'], [200, '/b'], [200, '/c']]);
  assert.ok(server.sessions.length >= 2, 'a second session took the refused streams');
  assert.equal((await h2Request(session, { ':path': '/later', ':authority': 'app.test' })).status, 200);
});

test('a refused connection to an h2c server is LB_UPSTREAM_REFUSED, and retried on another server', async (t) => {
  const server = await startH2Server(t, echo);
  const dead = await closedPort();
  const alone = await lbFor(t, `{ url: "h2c://127.0.0.1:${dead}" }`);
  const refused = await rawRequest(alone.port('web'), 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.match(refused.text, /^HTTP\/1\.1 502/);
  assert.match(refused.text, /lb-error: LB_UPSTREAM_REFUSED/);
  const both = await lbFor(t, `{ url: "h2c://127.0.0.1:${dead}" }, { url: "h2c://127.0.0.1:${server.port}" }`, 'retries: 1, retryBudget: 100,');
  for (let i = 0; i < 4; i++) {
    const res = await rawRequest(both.port('web'), `GET /r${i} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
    assert.match(res.text, /^HTTP\/1\.1 200/, `request ${i}`);
  }
});
