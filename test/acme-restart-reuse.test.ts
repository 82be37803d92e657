// Storage survives a restart: a second lb on the same storage serves the stored certificate and
// orders nothing (pebble is even stopped, so any order would fail and be counted).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IssuedCertificate } from '../src/tls/acme/storage.js';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('a restart reuses the stored certificate and orders nothing new', async (t) => {
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const yaml = acmeLbYaml(pebble, { webPort, storage, hosts: ['app.example.com'] });
  const first = await startLb(t, yaml);
  let original: IssuedCertificate | undefined;
  first.onCertificate((_host, certificate) => (original = certificate));
  await eventually(() => original, 'the first certificate', 60_000);
  await first.stop(0);
  await pebble.stop();

  const second = await startLb(t, yaml);
  const served = await eventually(async () => {
    const state = (await (await fetch(`${second.url('admin')}/api/state`)).json()) as { acme: { hosts: Array<{ host: string; state: string; notAfter: string }> } };
    return state.acme.hosts.find((h) => h.host === 'app.example.com' && h.state === 'valid');
  }, 'the stored certificate in use after the restart', 10_000);
  assert.equal(served.notAfter, original!.notAfter.toISOString());
  const metrics = await (await fetch(`${second.url('admin')}/metrics`)).text();
  assert.doesNotMatch(metrics, /lb_acme_orders_total\{/, 'no order, successful or not');
  assert.match(metrics, /lb_tls_certificate_expiry_timestamp_seconds\{name="app.example.com",source="acme"\}/);
});
