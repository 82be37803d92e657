// A host that appears later (a router added by a reload of lb.yaml) gets its certificate with no
// other step, while the hosts already served are not ordered again. Reports the time from the
// reload to the certificate.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('a router added on reload gets a certificate for its host; the others are not ordered again', async (t) => {
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const lb = await startLb(t, acmeLbYaml(pebble, { webPort, storage, hosts: ['one.example.com'] }));
  const issued: string[] = [];
  const at = new Map<string, number>();
  lb.onCertificate((host) => {
    issued.push(host);
    at.set(host, performance.now());
  });
  await eventually(() => issued.includes('one.example.com'), 'the first certificate', 60_000);

  const reloaded = performance.now();
  await lb.reload(parseConfig(acmeLbYaml(pebble, { webPort, storage, hosts: ['one.example.com', 'two.example.com'] }), 'test.yaml'));
  await eventually(() => issued.includes('two.example.com'), 'a certificate for the host added on reload', 60_000);
  t.diagnostic(`reload to certificate for the new host: ${Math.round(at.get('two.example.com')! - reloaded)} ms`);
  assert.deepEqual(issued, ['one.example.com', 'two.example.com']);
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  assert.match(metrics, /lb_acme_orders_total\{resolver="test",result="success"\} 2\b/);
});
