// clientAuth: client certificates checked against the CAs lb.yaml names. `require`: no valid
// certificate, no connection; `verify_if_given`: none is fine, a bad one is refused. The verified
// subject goes to the access log, and to servers only with forwardSubject (never the client's own
// header). Certificates are real: a CA made by openssl signs the client's.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry, tlsRequest, type TestCertificate } from './helpers/tls.js';

interface Clients {
  alice: TestCertificate;
  /** Self-signed: chains to no CA lb knows. */
  rogue: TestCertificate;
  /** Signed by another CA. */
  stranger: TestCertificate;
}

async function mtlsLb(t: TestContext, clientAuth: string) {
  const certs = new CertificateFolder(t);
  const ca = certs.ca('clients CA');
  const otherCa = certs.ca('other CA');
  const server = certs.certificate({ names: ['api.test'] });
  const clients: Clients = {
    alice: certs.certificate({ names: [], ca, usage: 'clientAuth', subject: '/O=Example/CN=alice' }),
    rogue: certs.certificate({ names: [], usage: 'clientAuth', subject: '/CN=alice' }),
    stranger: certs.certificate({ names: [], ca: otherCa, usage: 'clientAuth', subject: '/CN=mallory' }),
  };
  const subjects: Array<string | undefined> = [];
  const backend = await startBackend(t, (req, res) => {
    subjects.push(req.headers['x-forwarded-tls-client-cert-subject'] as string | undefined);
    res.end('ok');
  });
  const log = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const lb = await startLb(t, lbYaml(`
accessLog: { enabled: true, path: "${log}" }
routers: { api: { entrypoint: websecure, service: api } }
services: { api: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(server)} ], clientAuth: { caFiles: [ "${ca.certFile}" ], ${clientAuth} } }` } }));
  const port = lb.port('websecure');
  const as = (client: TestCertificate | undefined, extra: Parameters<typeof tlsRequest>[0] = { port }) =>
    tlsRequest({ ...extra, port, servername: 'api.test', ...(client ? { cert: client.cert, key: client.key } : {}) });
  const accessLines = async () => {
    await lb.stop(100);
    return readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { lb, port, clients, as, subjects, accessLines };
}

/** A refused client: the handshake fails, or (TLS 1.3, where the client finishes first) the connection closes unanswered. */
async function refused(attempt: Promise<{ status: number }>): Promise<void> {
  const outcome = await attempt.then((res) => res.status, (err: Error) => err);
  assert.ok(outcome === 0 || outcome instanceof Error, `expected a refusal, got status ${String(outcome)}`);
}

test('clientAuth require: only a certificate from the named CA gets in; its subject is logged', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { lb, clients, as, subjects, accessLines } = await mtlsLb(t, 'mode: require');
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const res = await as(clients.alice, { port: 0, maxVersion, path: `/alice-${maxVersion}`, headers: { 'x-forwarded-tls-client-cert-subject': 'CN=admin' } });
    assert.equal(res.status, 200, maxVersion);
    await refused(as(undefined, { port: 0, maxVersion }));
    await refused(as(clients.rogue, { port: 0, maxVersion }));
    await refused(as(clients.stranger, { port: 0, maxVersion }));
  }
  assert.deepEqual(subjects, [undefined, undefined], 'no subject header without forwardSubject, and the client\'s own is dropped');
  const metrics = await lb.metrics.registry.metrics();
  const failures = [...metrics.matchAll(/lb_tls_handshakes_total\{entrypoint="websecure",version="[^"]+",result="client_certificate"\} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  assert.equal(failures, 6);
  const lines = await accessLines();
  assert.deepEqual(lines.map((l) => [l.path, l.tls, l.tlsClientSubject]), [['/alice-TLSv1.2', 'TLSv1.2', 'CN=alice,O=Example'], ['/alice-TLSv1.3', 'TLSv1.3', 'CN=alice,O=Example']]);
});

test('clientAuth verify_if_given: no certificate is let in, a bad one is refused; forwardSubject sends the verified subject only', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { clients, as, subjects, accessLines } = await mtlsLb(t, 'mode: verify_if_given, forwardSubject: true');
  const spoof = { 'x-forwarded-tls-client-cert-subject': 'CN=admin' };
  assert.equal((await as(undefined, { port: 0, path: '/anonymous', headers: spoof })).status, 200);
  assert.equal((await as(clients.alice, { port: 0, path: '/alice', headers: spoof })).status, 200);
  assert.equal((await as(clients.alice, { port: 0, path: '/alice12', maxVersion: 'TLSv1.2' })).status, 200);
  await refused(as(clients.rogue));
  await refused(as(clients.stranger, { port: 0, maxVersion: 'TLSv1.2' }));
  assert.deepEqual(subjects, [undefined, 'CN=alice,O=Example', 'CN=alice,O=Example']);
  const lines = await accessLines();
  assert.deepEqual(lines.map((l) => [l.path, l.tlsClientSubject]), [['/anonymous', undefined], ['/alice', 'CN=alice,O=Example'], ['/alice12', 'CN=alice,O=Example']]);
});
