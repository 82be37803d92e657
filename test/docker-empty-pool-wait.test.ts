import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { DockerFixture, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

test('an empty pool with emptyPoolWait holds a request until a container arrives', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  // lb.yaml declares the route and tunes the service; containers bring its servers.
  const lb = await startDockerLb(t, fixture, '', `
routers: { late: { entrypoint: web, match: { host: "late.example.com" }, service: late } }
services: { late: { emptyPoolWait: 20s, healthCheck: { path: /health, interval: 500ms, timeout: 250ms } } }
`);
  const started = Date.now();
  const pending = fetchVia(lb, 'late.example.com');
  await eventually(async () => /^lb_entrypoint_open_connections\{entrypoint="web",protocol="http"\} 1$/m.test(await (await request(`${lb.url('admin')}/metrics`)).body.text()), 'lb to accept the request');
  await fixture.start({ labels: { ...fixture.labels({ enable: 'true', port: '8080' }), 'com.docker.compose.service': 'late' }, env: { NAME: 'latecomer' } });
  assert.equal(await pending, '200 latecomer');
  t.diagnostic(`held for ${Date.now() - started} ms until the container was healthy`);
});

test('without emptyPoolWait an empty pool answers 503 at once', { timeout: 30_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture, '', `
routers: { late: { entrypoint: web, match: { host: "late.example.com" }, service: late } }
`);
  const started = Date.now();
  assert.match(await fetchVia(lb, 'late.example.com'), /^503 /);
  assert.ok(Date.now() - started < 1_000);
});
