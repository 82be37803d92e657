// ACME http-01 against a real pebble: a host routed on an ACME entrypoint in lb.yaml gets a
// certificate that chains to pebble's root; pebble's validation fetched the key authorization
// from lb's HTTP entrypoint for real, and lb's https entrypoint then serves the certificate.
// Storage is private (folder 0700, files 0600).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IssuedCertificate } from '../src/tls/acme/storage.js';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, servedCertificate, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('a host from lb.yaml on an ACME entrypoint gets a certificate from pebble over http-01', async (t) => {
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const started = performance.now();
  const lb = await startLb(t, acmeLbYaml(pebble, { webPort, storage, hosts: ['app.example.com'] }));
  const issued = new Map<string, IssuedCertificate>();
  lb.onCertificate((host, certificate) => issued.set(host, certificate));

  const certificate = await eventually(() => issued.get('app.example.com'), 'a certificate for app.example.com', 60_000);
  t.diagnostic(`lb start to certificate: ${Math.round(performance.now() - started)} ms`);
  const [leafPem, ...chain] = certificate.certPem.split(/(?<=-----END CERTIFICATE-----\n?)/).filter((p) => p.trim());
  const leaf = new X509Certificate(leafPem!);
  assert.equal(leaf.checkHost('app.example.com'), 'app.example.com');
  assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(certificate.keyPem)), 'the key is the certificate\'s');
  const root = new X509Certificate(await pebble.root());
  const issuer = new X509Certificate(chain.at(-1)!);
  assert.ok(leaf.verify(new X509Certificate(chain[0]!).publicKey), 'the leaf is signed by the chain\'s first certificate');
  assert.ok(issuer.verify(root.publicKey), 'the chain ends at pebble\'s root');

  // The https entrypoint serves it for that name.
  await eventually(async () => ((await servedCertificate(lb.port('websecure'), 'app.example.com'))?.fingerprint256 === leaf.fingerprint256 ? true : undefined), 'lb to serve the ACME certificate over HTTPS', 10_000);

  const state = (await (await fetch(`${lb.url('admin')}/api/state`)).json()) as { acme: { hosts: Array<{ host: string; state: string; notAfter: string }> } };
  const host = state.acme.hosts.find((h) => h.host === 'app.example.com');
  assert.equal(host?.state, 'valid');
  assert.equal(host?.notAfter, certificate.notAfter.toISOString());
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  assert.match(metrics, /lb_acme_orders_total\{resolver="test",result="success"\} 1\b/);
  assert.match(metrics, new RegExp(`lb_tls_certificate_expiry_timestamp_seconds\\{name="app.example.com",source="acme"\\} ${certificate.notAfter.getTime() / 1000}\\b`));

  const [folder] = readdirSync(storage);
  const resolverFolder = join(storage, folder!);
  assert.equal(statSync(resolverFolder).mode & 0o777, 0o700);
  assert.equal(statSync(join(resolverFolder, 'certificates')).mode & 0o777, 0o700);
  for (const file of ['account.key', 'certificates/app.example.com.crt', 'certificates/app.example.com.key']) {
    assert.equal(statSync(join(resolverFolder, file)).mode & 0o777, 0o600, `${file} is 0600`);
  }
});
