// HTTP/2 clients are served as HTTP/1.1 ones are: h2 by ALPN on https entrypoints (on by
// default), h2c with prior knowledge on http entrypoints that ask for it; each stream is one
// request with the same routing, X-Forwarded-*, HSTS, access log and bodies, to HTTP/1.1 servers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session, http2ToolsAvailable, runTool } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry } from './helpers/tls.js';

const bigBody = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < bigBody.length; i += 4) bigBody.writeUInt32LE(i, i);
const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function h2Lb(t: TestContext, options: { websecure?: string; web?: string } = {}) {
  const certs = new CertificateFolder(t);
  const cert = certs.certificate({ names: ['app.test'] });
  const backend = await startBackend(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/big') return void res.end(bigBody);
      res.setHeader('content-type', 'application/json');
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, length: body.length, digest: digest(body) }));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'lb-h2-'));
  const log = join(dir, 'access.log');
  const lb = await startLb(t, lbYaml(`
accessLog: { enabled: true, path: "${log}" }
routers:
  app: { entrypoint: websecure, match: { host: "app.test" }, service: app }
  plain: { entrypoint: web, match: { host: "app.test" }, service: app }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: options.web ?? 'http2: { cleartext: true }', entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(cert)} ], hsts: { maxAge: 60 } }${options.websecure ?? ''}` } }));
  const accessLines = async () => {
    await lb.stop(100);
    return readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { lb, tlsPort: lb.port('websecure'), webPort: lb.port('web'), dir, accessLines };
}

const resolve = (port: number) => ['--resolve', `app.test:${port}:127.0.0.1`];

test('curl --http2 negotiates h2 by ALPN on an https entrypoint; the request arrives as HTTP/1.1 with X-Forwarded-*, and the response carries HSTS', async (t) => {
  if (!CertificateFolder.available(t) || !http2ToolsAvailable(t)) return;
  const { tlsPort, accessLines } = await h2Lb(t);
  const run = await runTool('curl', ['-sS', '-k', '-v', '--http2', ...resolve(tlsPort), '-H', 'x-forwarded-for: 6.6.6.6', '-H', 'cookie: a=1', '-H', 'cookie: b=2', `https://app.test:${tlsPort}/x?y=1`]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /ALPN: server accepted h2/);
  assert.match(run.stderr, /< HTTP\/2 200/);
  assert.match(run.stderr, /< strict-transport-security: max-age=60/);
  assert.match(run.stderr, /< set-cookie: a=1[\s\S]*< set-cookie: b=2/);
  const seen = JSON.parse(run.stdout) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/x?y=1');
  assert.equal(seen.headers.host, `app.test:${tlsPort}`);
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted client\'s X-Forwarded-For is replaced');
  assert.equal(seen.headers.cookie, 'a=1; b=2', 'cookie crumbs are joined for HTTP/1.1');
  const lines = await accessLines();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.path, '/x');
  assert.equal(lines[0]!.status, 200);
  assert.equal(lines[0]!.tls, 'TLSv1.3');
  assert.equal(lines[0]!.router, 'app');
});

test('an HTTP/1.1 client on the same https entrypoint negotiates http/1.1; with http2.enabled: false, h2 is not offered', async (t) => {
  if (!CertificateFolder.available(t) || !http2ToolsAvailable(t)) return;
  const on = await h2Lb(t);
  const h1 = await runTool('curl', ['-sS', '-k', '-v', '--http1.1', ...resolve(on.tlsPort), `https://app.test:${on.tlsPort}/one`]);
  assert.match(h1.stderr, /ALPN: server accepted http\/1\.1/);
  assert.match(h1.stderr, /< HTTP\/1\.1 200/);
  const off = await h2Lb(t, { websecure: ', http2: { enabled: false }' });
  const fallback = await runTool('curl', ['-sS', '-k', '-v', '--http2', ...resolve(off.tlsPort), `https://app.test:${off.tlsPort}/two`]);
  assert.equal(fallback.code, 0, fallback.stderr);
  assert.match(fallback.stderr, /< HTTP\/1\.1 200/);
});

test('h2c with prior knowledge on an http entrypoint with http2.cleartext, beside HTTP/1.1 on the same port; not on one without it', async (t) => {
  if (!CertificateFolder.available(t) || !http2ToolsAvailable(t)) return;
  const { webPort } = await h2Lb(t);
  const h2c = await runTool('curl', ['-sS', '-v', '--http2-prior-knowledge', ...resolve(webPort), '--data-binary', 'hello', `http://app.test:${webPort}/post`]);
  assert.equal(h2c.code, 0, h2c.stderr);
  assert.match(h2c.stderr, /< HTTP\/2 200/);
  const posted = JSON.parse(h2c.stdout) as { method: string; length: number; headers: Record<string, string> };
  assert.equal(posted.method, 'POST');
  assert.equal(posted.length, 5);
  assert.equal(posted.headers['x-forwarded-proto'], 'http');
  assert.doesNotMatch(h2c.stderr, /strict-transport-security/i, 'no HSTS over plain http');
  const h1 = await rawRequest(webPort, 'GET /h1 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.match(h1.text, /^HTTP\/1\.1 200/);
  const plain = await h2Lb(t, { web: '' });
  const refused = await runTool('curl', ['-sS', '--http2-prior-knowledge', '--max-time', '5', ...resolve(plain.webPort), `http://app.test:${plain.webPort}/`]);
  assert.notEqual(refused.code, 0, 'an http entrypoint without cleartext does not speak h2c');
});

test('nghttp uploads and downloads bodies intact, and Node\'s client streams a body of unknown length (chunked to the server)', async (t) => {
  if (!CertificateFolder.available(t) || !http2ToolsAvailable(t)) return;
  const { tlsPort, webPort, dir } = await h2Lb(t);
  const upload = join(dir, 'upload.bin');
  writeFileSync(upload, bigBody);
  const up = await runTool('nghttp', ['-d', upload, `https://127.0.0.1:${tlsPort}/up`, '-H', ':authority: app.test']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal((JSON.parse(up.stdout) as { digest: string }).digest, digest(bigBody));
  const down = await runTool('nghttp', [`http://127.0.0.1:${webPort}/big`, '-H', ':authority: app.test']);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(digest(Buffer.from(down.stdout, 'latin1')), digest(bigBody));
  const session = h2Session(t, `https://127.0.0.1:${tlsPort}`);
  const streamed = await h2Request(session, { ':method': 'PUT', ':path': '/stream', ':authority': 'app.test' }, [bigBody.subarray(0, 1 << 20), bigBody.subarray(1 << 20)]);
  const seen = JSON.parse(String(streamed.body)) as { length: number; digest: string; headers: Record<string, string> };
  assert.equal(seen.length, bigBody.length);
  assert.equal(seen.digest, digest(bigBody));
  assert.equal(seen.headers['transfer-encoding'], 'chunked');
  const big = await h2Request(session, { ':path': '/big', ':authority': 'app.test' });
  assert.equal(digest(big.body), digest(bigBody));
});

test('h2load: 10 streams at once on each of 5 connections, every request answered', async (t) => {
  if (!CertificateFolder.available(t) || !http2ToolsAvailable(t)) return;
  const { tlsPort, webPort } = await h2Lb(t);
  for (const url of [`https://127.0.0.1:${tlsPort}/load`, `http://127.0.0.1:${webPort}/load`]) {
    const run = await runTool('h2load', ['-n', '500', '-c', '5', '-m', '10', '-H', ':authority: app.test', url], 60_000);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /500 succeeded/, run.stdout);
    assert.match(run.stdout, /status codes: 500 2xx/, run.stdout);
  }
});

test('lb\'s own answers (no router) go back on the stream with their lb-error code', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { tlsPort } = await h2Lb(t);
  const session = h2Session(t, `https://127.0.0.1:${tlsPort}`);
  const missing = await h2Request(session, { ':path': '/', ':authority': 'nowhere.test' });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['lb-error'], 'LB_NO_ROUTE');
  assert.equal(missing.headers['strict-transport-security'], 'max-age=60');
  const found = await h2Request(session, { ':path': '/after', ':authority': 'app.test' });
  assert.equal(found.status, 200, 'the connection goes on serving');
});
