import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

/** A backend that answers with the request head it received, plus hop-by-hop response headers. */
async function echoBackend(t: TestContext) {
  return startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const payload = JSON.stringify({ rawHeaders: req.rawHeaders, headers: req.headers, body });
      res.writeHead(200, [
        'Content-Type', 'application/json',
        'X-App', 'kept',
        'X-Hop', 'dropped',
        'Keep-Alive', 'timeout=5',
        'Proxy-Connection', 'keep-alive',
        'Connection', 'keep-alive, X-Hop',
        'Content-Length', String(Buffer.byteLength(payload)),
      ]);
      res.end(payload);
    });
  });
}

function parse(text: string) {
  const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n').slice(1)) headers.set(line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim());
  return { status: statusOf(text), headers, seen: JSON.parse(body) as { rawHeaders: string[]; headers: Record<string, string>; body: string } };
}

const request = [
  'POST /submit?q=1 HTTP/1.1',
  'Host: App.Example.com:8443',
  'X-Forwarded-For: 6.6.6.6',
  'X-Forwarded-Proto: https',
  'X-Forwarded-Host: evil.example',
  'Connection: keep-alive, X-Secret',
  'X-Secret: must-not-pass',
  'Keep-Alive: timeout=5',
  'Proxy-Connection: keep-alive',
  'TE: trailers',
  'Trailer: X-Checksum',
  'Upgrade: h2c',
  'X-Custom: Kept-As-Is',
  'Transfer-Encoding: chunked',
  '',
  '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
].join('\r\n');

test('hop-by-hop headers are stripped both ways; X-Forwarded-* are set; Host passes through', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const { text } = await rawRequest(lb.port('web'), request.replace('Connection: keep-alive, X-Secret', 'Connection: close, X-Secret'));
  const { status, headers, seen } = parse(text);
  assert.equal(status, 200);
  for (const name of ['x-secret', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
    assert.equal(seen.headers[name], undefined, `${name} reached the backend`);
  }
  // The client's Transfer-Encoding stays with its hop; the body goes on chunked, framed by lb.
  assert.equal(seen.headers['transfer-encoding'], 'chunked');
  assert.doesNotMatch(seen.headers.connection ?? '', /x-secret/i, 'the client Connection header must not reach the backend');
  assert.equal(seen.body, 'hello world', 'a chunked body is re-framed, not lost');
  assert.equal(seen.headers.host, 'App.Example.com:8443');
  assert.equal(seen.headers['x-custom'], 'Kept-As-Is');
  assert.ok(seen.rawHeaders.includes('X-Custom'), 'header case is preserved');
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted X-Forwarded-For is replaced');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-host'], 'App.Example.com:8443');
  assert.equal(seen.headers['x-forwarded-port'], String(lb.port('web')));

  assert.equal(headers.get('x-app'), 'kept');
  assert.equal(headers.get('x-hop'), undefined, 'a header named by Connection must not reach the client');
  assert.equal(headers.get('proxy-connection'), undefined);
  assert.notEqual(headers.get('keep-alive'), 'timeout=5', 'the backend Keep-Alive must not reach the client');
});

test('X-Forwarded-* from a trusted proxy are extended, not replaced', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: echo } }
services: { echo: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'trustedProxies: ["127.0.0.0/8"]' }));
  const { text } = await rawRequest(lb.port('web'), request.replace('Connection: keep-alive', 'Connection: close'));
  const { seen } = parse(text);
  assert.equal(seen.headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers['x-forwarded-host'], 'evil.example');
});
