// tls-alpn-01 end to end: pebble validates on lb's own https entrypoint (the ClientHello asks for
// acme-tls/1, lb answers with the challenge certificate), and the certificate it issues is then
// what that entrypoint serves for the host.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IssuedCertificate } from '../src/tls/acme/storage.js';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, servedCertificate, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('tls-alpn-01 is answered on the https entrypoint, which then serves the certificate', async (t) => {
  const websecurePort = await closedPort();
  const pebble = await startPebble(t, { httpPort: await closedPort(), tlsPort: websecurePort });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const lb = await startLb(t, acmeLbYaml(pebble, { webPort: await closedPort(), websecurePort, storage, hosts: ['alpn.example.com'], challenge: 'tls-alpn-01' }));
  const issued = new Map<string, IssuedCertificate>();
  lb.onCertificate((host, certificate) => issued.set(host, certificate));
  const certificate = await eventually(() => issued.get('alpn.example.com'), 'a certificate over tls-alpn-01', 60_000);
  const { X509Certificate } = await import('node:crypto');
  const leaf = new X509Certificate(certificate.certPem);
  assert.equal(leaf.checkHost('alpn.example.com'), 'alpn.example.com');
  await eventually(async () => ((await servedCertificate(websecurePort, 'alpn.example.com'))?.fingerprint256 === leaf.fingerprint256 ? true : undefined), 'the entrypoint to serve the issued certificate', 10_000);
});
