import assert from 'node:assert/strict';
import { statSync, mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { closedPort } from './helpers/servers.js';
import { docker, DockerFixture, eventually, lbImage, requireDocker } from './helpers/docker.js';

test('the image runs as a per-host ingress: discovers backends on the network it shares with them', { timeout: 600_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const started = Date.now();
  const { image, built } = await lbImage();
  const size = Number(await docker('image', 'inspect', '-f', '{{.Size}}', image));
  t.diagnostic(`image ${built ? 'built' : 'reused'} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${(size / 1024 / 1024).toFixed(0)} MB`);
  const labels = JSON.parse(await docker('image', 'inspect', '-f', '{{json .Config.Labels}}', image)) as Record<string, string>;
  assert.equal(labels['org.opencontainers.image.title'], 'lb');
  assert.equal(await docker('image', 'inspect', '-f', '{{.Config.User}}', image), '1000:1000');

  const shared = await fixture.network('shared');
  const other = await fixture.network('other');
  const backendLabels = { ...fixture.labels({ enable: 'true', host: 'app.example.com', port: '8080' }), 'com.docker.compose.service': 'web' };
  for (const name of ['one', 'two']) {
    const id = await fixture.start({ labels: backendLabels, env: { NAME: name }, args: ['--network', other] });
    await docker('network', 'connect', shared, id);
  }

  const dir = mkdtempSync(join(tmpdir(), 'lb-ingress-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'lb.yaml'), `
entrypoints: { web: { address: "0.0.0.0:8080" } }
admin: { address: "127.0.0.1:9090" }
providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}" } }
`);
  const port = await closedPort();
  const socketGroup = String(statSync('/var/run/docker.sock').gid);
  const lb = await docker('run', '-d', '--label', `lb-test.run=${fixture.run}`, '--network', shared, '-p', `127.0.0.1:${port}:8080`,
    '-v', '/var/run/docker.sock:/var/run/docker.sock:ro', '--group-add', socketGroup, '-v', `${join(dir, 'lb.yaml')}:/etc/lb/lb.yaml:ro`, image);

  const seen = new Set<string>();
  await eventually(async () => {
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { host: 'app.example.com' } });
    const body = await res.body.text();
    if (res.statusCode === 200) seen.add(body);
    return seen.size === 2 ? true : undefined;
  }, 'both backends to answer through the ingress container', 30_000);
  const logs = await docker('logs', lb);
  assert.match(logs, /lb runs in a container; preferring the networks it shares/);
  const health = await eventually(async () => {
    const status = await docker('inspect', '-f', '{{.State.Health.Status}}', lb);
    return status === 'healthy' ? status : undefined;
  }, 'the image HEALTHCHECK to pass', 40_000);
  assert.equal(health, 'healthy');
});
