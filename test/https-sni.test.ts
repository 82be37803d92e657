// https entrypoints: which certificate a ClientHello gets (exact name, then a one-label
// wildcard, then the first certificate; no SNI: the first), strictSNI's alert, and the defaults a
// TLS scanner checks (versions, ciphers, renegotiation, ALPN). Certificates are real, made by
// openssl: ECDSA P-256 and RSA, a wildcard.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry, tlsConnect, tlsRequest } from './helpers/tls.js';

async function sniSetup(t: import('node:test').TestContext, tls = '') {
  const certs = new CertificateFolder(t);
  const byDefault = certs.certificate({ names: ['default.test'] });
  const exact = certs.certificate({ type: 'rsa', names: ['app.example.com'] });
  const wildcard = certs.certificate({ names: ['*.example.com', 'example.com'] });
  const deeper = certs.certificate({ type: 'rsa', names: ['*.api.example.com'] });
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${[byDefault, exact, wildcard, deeper].map(certEntry).join(', ')} ]${tls} }` } }));
  return { lb, port: lb.port('websecure') };
}

test('SNI picks the exact name, then the one-label wildcard, then the first certificate; no SNI gets the first', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, port } = await sniSetup(t);
  const state = (await (await fetch(`${lb.url('admin')}/api/state`)).json()) as { entrypoints: Array<{ name: string; tls?: { certificates: Array<{ name: string; source: string; names: string[]; notAfter: string }> } }> };
  const listed = state.entrypoints.find((e) => e.name === 'websecure')!.tls!.certificates;
  assert.deepEqual(listed.map((c) => [c.name, c.source, c.names]), [['default.test', 'file', ['default.test']], ['app.example.com', 'file', ['app.example.com']], ['*.example.com', 'file', ['*.example.com', 'example.com']], ['*.api.example.com', 'file', ['*.api.example.com']]]);
  assert.ok(Date.parse(listed[0]!.notAfter) > Date.now());
  const cases: Array<[string | undefined, string]> = [
    ['app.example.com', 'app.example.com'], // exact (RSA) wins over *.example.com
    ['APP.Example.com', 'app.example.com'], // names are compared in lower case
    ['www.example.com', '*.example.com'],
    ['example.com', '*.example.com'], // the wildcard certificate also names example.com
    ['v1.api.example.com', '*.api.example.com'], // the longer wildcard
    ['a.b.example.com', 'default.test'], // *.example.com covers one label only
    ['unknown.test', 'default.test'],
    [undefined, 'default.test'],
  ];
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const [servername, cn] of cases) {
      const res = await tlsRequest({ port, maxVersion, ...(servername ? { servername } : {}), host: servername ?? 'x' });
      assert.equal(res.cn, cn, `${servername ?? 'no SNI'} over ${maxVersion}`);
      assert.equal(res.protocol, maxVersion);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'app');
    }
  }
});

test('the certificate chain verifies for its name, and ALPN gives http/1.1 to a client that offers only it (h2 is in http2-clients.test.ts)', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const ca = certs.ca();
  const leaf = certs.certificate({ names: ['secure.test'], ca });
  const backend = await namedBackend(t, 'ok');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(leaf)} ] }` } }));
  const res = await tlsRequest({ port: lb.port('websecure'), servername: 'secure.test', rejectUnauthorized: true, ca: ca.cert, ALPNProtocols: ['http/1.1'] });
  assert.equal(res.alpn, 'http/1.1');
  assert.equal(res.body, 'ok');
  await assert.rejects(tlsRequest({ port: lb.port('websecure'), servername: 'other.test', rejectUnauthorized: true, ca: ca.cert }), /does not match|altnames/i);
});

test('strictSNI: a name no certificate covers gets an unrecognized_name alert and is counted; others are served', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, port } = await sniSetup(t, ', strictSNI: true');
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    await assert.rejects(tlsRequest({ port, servername: 'a.b.example.com', maxVersion }), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
    assert.equal((await tlsRequest({ port, servername: 'www.example.com', maxVersion })).cn, '*.example.com');
  }
  // No name at all (an IP address): the default certificate, as without strictSNI.
  assert.equal((await tlsRequest({ port })).cn, 'default.test');
  const metrics = await lb.metrics.registry.metrics();
  assert.match(metrics, /lb_tls_handshakes_total\{entrypoint="websecure",version="unknown",result="unknown_sni"\} 2/);
  assert.match(metrics, /lb_tls_handshakes_total\{entrypoint="websecure",version="TLSv1.3",result="success"\} 2/);
});

test('TLS 1.2 and 1.3 only, forward-secret AEAD ciphers only, no renegotiation', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, port } = await sniSetup(t);
  await assert.rejects(tlsRequest({ port, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), (err: NodeJS.ErrnoException) => /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS/.test(err.code ?? ''));
  for (const cipher of ['AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'DHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-SHA384']) {
    await assert.rejects(tlsRequest({ port, servername: 'app.example.com', maxVersion: 'TLSv1.2', ciphers: cipher }), /handshake failure|HANDSHAKE_FAILURE/i, cipher);
  }
  for (const [servername, cipher] of [['app.example.com', 'ECDHE-RSA-AES256-GCM-SHA384'], ['app.example.com', 'ECDHE-RSA-CHACHA20-POLY1305'], ['www.example.com', 'ECDHE-ECDSA-AES128-GCM-SHA256'], ['www.example.com', 'ECDHE-ECDSA-CHACHA20-POLY1305']] as const) {
    assert.equal((await tlsRequest({ port, servername, maxVersion: 'TLSv1.2', ciphers: cipher })).cipher, cipher);
  }
  const metrics = await lb.metrics.registry.metrics();
  assert.match(metrics, /result="unsupported_version"\} 1/);
  assert.match(metrics, /version="TLSv1.2",result="no_shared_cipher"\} 4/);

  // Node's TLS server accepts a client's renegotiation unless told not to; lb is told not to.
  const socket = await tlsConnect({ port, servername: 'www.example.com', maxVersion: 'TLSv1.2' });
  const refused = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
  socket.renegotiate({ rejectUnauthorized: false }, () => undefined);
  assert.equal((await refused).code, 'ERR_SSL_NO_RENEGOTIATION');
  socket.destroy();
  assert.equal((await tlsRequest({ port, servername: 'www.example.com', maxVersion: 'TLSv1.2' })).status, 200, 'other connections are served');
});

test('minVersion "1.3" refuses a client that speaks TLS 1.2 at most', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, port } = await sniSetup(t, ', minVersion: "1.3"');
  for (const servername of ['app.example.com', 'www.example.com', undefined]) {
    await assert.rejects(tlsRequest({ port, maxVersion: 'TLSv1.2', ...(servername ? { servername } : {}) }), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', servername);
    assert.equal((await tlsRequest({ port, ...(servername ? { servername } : {}) })).protocol, 'TLSv1.3');
  }
  assert.match(await lb.metrics.registry.metrics(), /version="TLSv1.2",result="unsupported_version"\} 3/);
});
