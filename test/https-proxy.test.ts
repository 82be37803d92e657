// HTTP over an https entrypoint is the same HTTP/1.1 as on http (the fast path, Node's path,
// WebSocket), with what TLS adds: X-Forwarded-Proto from the entrypoint, HSTS on every response,
// the TLS version in access logs. And http entrypoints that redirect to https with a 308.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { redirectLocation } from '../src/proxy/http/server.js';
import { rawRequest } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry, requestOn, tlsConnect, tlsRequest } from './helpers/tls.js';
import { eventually } from './helpers/wait.js';

/** 6 MiB that no two chunks share: a chunk relayed twice, or read over before it was sent, would show. */
const bigBody = Buffer.alloc(6 * 1024 * 1024);
for (let i = 0; i < bigBody.length; i += 4) bigBody.writeUInt32LE(i, i);
const bigDigest = createHash('sha256').update(bigBody).digest('hex');

async function httpsLb(t: TestContext, options: { tls?: string; web?: string; top?: string } = {}) {
  const certs = new CertificateFolder(t);
  const cert = certs.certificate({ names: ['app.test', '*.app.test'] });
  const seen: Array<Record<string, unknown>> = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      if (req.url === '/own-hsts') res.setHeader('strict-transport-security', 'max-age=60');
      if (req.url?.startsWith('/big')) return void res.end(bigBody);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'], port: req.headers['x-forwarded-port'], host: req.headers['x-forwarded-host'], url: req.url }));
    });
  });
  const wss = new WebSocketServer({ server: backend.server });
  t.after(() => wss.close());
  wss.on('connection', (socket, req) => socket.send(`proto ${req.headers['x-forwarded-proto']}`));
  const log = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const lb = await startLb(t, lbYaml(`
${options.top ?? ''}
accessLog: { enabled: true, path: "${log}" }
routers:
  app: { entrypoint: websecure, match: { host: "app.test" }, service: app }
  plain: { entrypoint: web, match: { host: "plain.test" }, service: app }
services: { app: { retries: 0, servers: [ { url: "${backend.url}" } ] } }
`, { web: options.web ?? '', entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(cert)} ]${options.tls ?? ''} }` } }));
  const accessLines = async () => {
    await lb.stop(100);
    return readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { lb, port: lb.port('websecure'), seen, accessLines };
}

test('X-Forwarded-Proto is https on an https entrypoint, whatever the client sends, and http on an http one', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, port } = await httpsLb(t);
  const over = await tlsRequest({ port, servername: 'app.test', path: '/x?y=1', headers: { 'x-forwarded-proto': 'http', 'x-forwarded-port': '1' } });
  assert.deepEqual(JSON.parse(over.body), { proto: 'https', port: String(port), host: 'app.test', url: '/x?y=1' });
  // Node's path (an absolute-form target, which the fast parser leaves to llhttp) says the same.
  const node = await tlsRequest({ port, servername: 'app.test', path: 'http://app.test/node', host: 'app.test' });
  assert.equal(JSON.parse(node.body).proto, 'https');
  const plain = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n');
  assert.match(plain.text, /"proto":"http"/);
});

test('keep-alive requests share one TLS connection, and WebSocket works over TLS', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { port } = await httpsLb(t);
  const socket = await tlsConnect({ port, servername: 'app.test' });
  t.after(() => socket.destroy());
  for (let i = 0; i < 5; i++) assert.equal(JSON.parse((await requestOn(socket, `/k${i}`, 'app.test')).body).url, `/k${i}`);
  const client = new WebSocket(`wss://127.0.0.1:${port}/chat`, { headers: { host: 'app.test' }, servername: 'app.test', rejectUnauthorized: false } as ConstructorParameters<typeof WebSocket>[2]);
  t.after(() => client.terminate());
  const [message] = await once(client, 'message');
  assert.equal(String(message), 'proto https');
});

test('large bodies arrive intact over TLS, to a fast reader and to one that pauses', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { port } = await httpsLb(t);
  for (const slow of [false, true]) {
    const socket = await tlsConnect({ port, servername: 'app.test' });
    t.after(() => socket.destroy());
    const chunks: Buffer[] = [];
    socket.write('GET /big HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n');
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (slow && chunks.length % 8 === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 20);
      }
    });
    await once(socket, 'end');
    const all = Buffer.concat(chunks);
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
    assert.equal(body.length, bigBody.length, slow ? 'slow reader' : 'fast reader');
    assert.equal(createHash('sha256').update(body).digest('hex'), bigDigest, slow ? 'slow reader' : 'fast reader');
  }
});

test('hsts adds Strict-Transport-Security to proxied responses and lb\'s own, on both parsers; a server\'s own comes first', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { port, lb } = await httpsLb(t, { tls: ', hsts: { maxAge: 31536000, includeSubDomains: true }' });
  const want = 'max-age=31536000; includeSubDomains';
  assert.equal((await tlsRequest({ port, servername: 'app.test' })).headers['strict-transport-security'], want);
  assert.equal((await tlsRequest({ port, servername: 'app.test', path: 'http://app.test/node', host: 'app.test' })).headers['strict-transport-security'], want);
  const notFound = await tlsRequest({ port, servername: 'app.test', host: 'nowhere.test' });
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers['strict-transport-security'], want);
  const own = await tlsRequest({ port, servername: 'app.test', path: '/own-hsts', headers: { connection: 'close' } });
  assert.ok(own.headers['strict-transport-security'], 'the server\'s own header is relayed');
  const plain = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n');
  assert.doesNotMatch(plain.text, /strict-transport-security/i, 'never over plain http');
});

test('without hsts there is no Strict-Transport-Security header', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { port } = await httpsLb(t);
  assert.equal((await tlsRequest({ port, servername: 'app.test' })).headers['strict-transport-security'], undefined);
});

test('access-log lines of https requests carry the TLS version', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { port, lb, accessLines } = await httpsLb(t);
  await tlsRequest({ port, servername: 'app.test', maxVersion: 'TLSv1.2', path: '/twelve' });
  await tlsRequest({ port, servername: 'app.test', path: '/thirteen' });
  await rawRequest(lb.port('web'), 'GET /plain HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n');
  const lines = await accessLines();
  const byPath = new Map(lines.map((l) => [l.path, l]));
  assert.equal(byPath.get('/twelve')!.tls, 'TLSv1.2');
  assert.equal(byPath.get('/thirteen')!.tls, 'TLSv1.3');
  assert.equal('tls' in byPath.get('/plain')!, false);
  assert.equal('tlsClientSubject' in byPath.get('/thirteen')!, false, 'no subject without clientAuth');
});

function plainGet(port: number, path: string, host: string, method = 'GET', body?: string): Promise<{ status: number; location: string | undefined; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('redirect: every request on the http entrypoint gets a 308 to https, with the public port (443 left out)', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, port, accessLines } = await httpsLb(t, { web: 'redirect: { to: websecure }' });
  const web = lb.port('web');
  // The default port is the one the https entrypoint listens on.
  const first = await plainGet(web, '/a/b?c=d&e', 'plain.test:8080');
  assert.deepEqual([first.status, first.location], [308, `https://plain.test:${port}/a/b?c=d&e`]);
  // A keep-alive client keeps its connection across redirects.
  const twice = await rawRequest(web, 'GET /1 HTTP/1.1\r\nHost: plain.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n');
  assert.equal(twice.text.match(/308 Permanent Redirect\r\n/g)?.length, 2, twice.text);
  assert.equal((await plainGet(web, '/', 'Example.COM')).location, `https://example.com:${port}/`);
  assert.equal((await plainGet(web, '/v6', '[::1]:80')).location, `https://[::1]:${port}/v6`);
  const post = await plainGet(web, '/form', 'plain.test', 'POST', 'a=1');
  assert.equal(post.status, 308);
  // Node's path and WebSocket upgrades are redirected too.
  assert.match((await rawRequest(web, 'GET http://plain.test/abs HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n')).text, new RegExp(`^HTTP/1.1 308 Permanent Redirect\\r\\n[^]*Location: https://plain.test:${port}/abs`));
  const upgrade = await rawRequest(web, 'GET /chat HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  assert.match(upgrade.text, new RegExp(`^HTTP/1.1 308 Permanent Redirect\\r\\n[^]*Location: https://plain.test:${port}/chat`));
  const lines = await accessLines();
  assert.ok(lines.some((l) => l.path === '/a/b' && l.status === 308 && l.router === ''), JSON.stringify(lines));
  const metrics = await lb.metrics.registry.metrics();
  assert.match(metrics, /lb_http_requests_total\{entrypoint="web",router="",service="",method="GET",code="308"\} 7/);
});

test('redirectLocation: the host without its port, an absolute-form target\'s own host, nothing that is not a host name', () => {
  assert.equal(redirectLocation('Shop.Test:8080', '/a?b', 8443), 'https://shop.test:8443/a?b');
  assert.equal(redirectLocation('x.test', 'http://other.test:81/p?q', 443), 'https://other.test/p?q');
  assert.equal(redirectLocation('[2001:db8::1]:80', '/', 443), 'https://[2001:db8::1]/');
  assert.equal(redirectLocation('x.test', '*', 443), 'https://x.test/');
  for (const bad of ['', 'evil@x.test', 'a b', 'x.test/path', 'x.test:80:80']) assert.equal(redirectLocation(bad, '/', 443), undefined, bad);
});

test('redirect.port sets the public port; 443 is left out of the Location', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb } = await httpsLb(t, { web: 'redirect: { to: websecure, port: 443 }' });
  assert.equal((await plainGet(lb.port('web'), '/x', 'shop.test:80')).location, 'https://shop.test/x');
});

test('redirect.port other than 443 is written', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb } = await httpsLb(t, { web: 'redirect: { to: websecure, port: 8443 }' });
  assert.equal((await plainGet(lb.port('web'), '/x', 'shop.test')).location, 'https://shop.test:8443/x');
  await eventually(async () => (await plainGet(lb.port('web'), '/y', 'shop.test')).status === 308, 'still redirecting');
});
