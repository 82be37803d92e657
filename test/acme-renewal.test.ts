// Renewal at two thirds of the lifetime, for real: pebble issues certificates that last 20 s
// (certificateValidityPeriod), so lb orders again about 13 s after the first one was issued, and
// the new certificate replaces the old one (in storage too).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IssuedCertificate } from '../src/tls/acme/storage.js';
import { AcmeStorage } from '../src/tls/acme/storage.js';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('a certificate is renewed at two thirds of its lifetime', async (t) => {
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort, validitySeconds: 20 });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const lb = await startLb(t, acmeLbYaml(pebble, { webPort, storage, hosts: ['app.example.com'] }));
  const issued: Array<{ certificate: IssuedCertificate; at: number }> = [];
  lb.onCertificate((_host, certificate) => issued.push({ certificate, at: Date.now() }));
  await eventually(() => issued.length >= 2, 'a renewed certificate', 60_000);
  const [first, second] = issued as [typeof issued[number], typeof issued[number]];
  const lifetime = first.certificate.notAfter.getTime() - first.certificate.notBefore.getTime();
  const renewAt = first.certificate.notBefore.getTime() + (lifetime * 2) / 3;
  assert.ok(second.at >= renewAt, `renewed after two thirds of the lifetime (${second.at - renewAt} ms after)`);
  assert.ok(second.at < first.certificate.notAfter.getTime(), 'renewed before the old one expired');
  assert.ok(second.certificate.notAfter > first.certificate.notAfter);
  const stored = await new AcmeStorage(storage, pebble.directory).load('app.example.com');
  assert.ok(stored && stored.notAfter.getTime() >= second.certificate.notAfter.getTime(), 'storage holds the renewed certificate');
});
