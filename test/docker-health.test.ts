import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { docker, DockerFixture, dockerState, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

const probe = `/usr/bin/node -e "require('http').get('http://127.0.0.1:8080/health', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"`;

test('a HEALTHCHECK gates the pool: starting is out, healthy is in, unhealthy is out', { timeout: 90_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const id = await fixture.start({
    labels: fixture.labels({ enable: 'true', host: 'health.example.com', port: '8080' }),
    env: { NAME: 'checked' },
    // --health-cmd runs through /bin/sh, which the empty image lacks: lend it the host's.
    args: ['-v', '/usr/bin:/bin:ro', '--health-cmd', probe, '--health-interval', '2s', '--health-timeout', '1s', '--health-retries', '1'],
  });
  const reason = async () => (await dockerState(lb)).containers.find((c) => id.startsWith(c.id))?.reason;
  assert.equal(await eventually(async () => ((await reason()) === 'health: starting' ? 'starting' : undefined), 'health: starting'), 'starting');
  assert.match(await fetchVia(lb, 'health.example.com'), /^503 /);

  // Measure from the moment Docker reports healthy to the first request lb routes there.
  const status = () => docker('inspect', '-f', '{{.State.Health.Status}}', id);
  const healthyAt = await eventually(async () => ((await status()) === 'healthy' ? Date.now() : undefined), 'Docker to report healthy', 20_000);
  const routedAt = await eventually(async () => ((await fetchVia(lb, 'health.example.com')) === '200 checked' ? Date.now() : undefined), 'routing once healthy');
  t.diagnostic(`health_status healthy (seen by polling docker inspect) → first routed request: ${routedAt - healthyAt} ms`);

  const flip = await request(`${lb.url('web')}/fail`, { method: 'POST', headers: { host: 'health.example.com' } });
  assert.equal(await flip.body.text(), 'now failing');
  await eventually(async () => ((await reason()) === 'health: unhealthy' ? true : undefined), 'health: unhealthy', 20_000);
  assert.match(await fetchVia(lb, 'health.example.com'), /^503 /);
});
