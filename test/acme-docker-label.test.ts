// A host that a Docker label adds to an ACME entrypoint gets its certificate with no other step.
// Reports the time from the container's start to the certificate.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { startBalancer } from '../src/lb.js';
import { createLogger } from '../src/log.js';
import { DockerFixture, requireDocker } from './helpers/docker.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('a container labelled with a host on the ACME entrypoint gets a certificate', { timeout: 120_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort });
  if (!pebble) return;
  const fixture = new DockerFixture(t);
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const yaml = acmeLbYaml(pebble, { webPort, storage, hosts: [], extra: `providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}", entrypoint: websecure } }` });
  const lb = await startBalancer(parseConfig(yaml, 'test.yaml'), createLogger('silent'));
  t.after(() => lb.stop(200));
  const issued = new Map<string, number>();
  lb.onCertificate((host) => issued.set(host, performance.now()));

  const started = performance.now();
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'label.example.com', port: '8080' }) });
  await eventually(() => issued.get('label.example.com'), 'a certificate for the labelled host', 90_000);
  t.diagnostic(`docker run to certificate: ${Math.round(issued.get('label.example.com')! - started)} ms`);
});
