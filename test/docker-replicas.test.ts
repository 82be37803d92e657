import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerFixture, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

test('two replicas of a compose service on the default bridge share one pool', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = {
    ...fixture.labels({ enable: 'true', host: 'app.example.com', port: '8080' }),
    'com.docker.compose.project': `p${fixture.run}`,
    'com.docker.compose.service': 'app',
  };
  const startedAt = Date.now();
  await fixture.start({ labels, env: { NAME: 'replica-1' } });
  const firstRouted = await eventually(async () => ((await fetchVia(lb, 'app.example.com')) === '200 replica-1' ? Date.now() : undefined), 'replica-1 to serve');
  t.diagnostic(`container start → first routed request: ${firstRouted - startedAt} ms (includes docker run and node start-up)`);
  await fixture.start({ labels, env: { NAME: 'replica-2' } });
  await eventually(async () => ((await fetchVia(lb, 'app.example.com')) === '200 replica-2' ? true : undefined), 'replica-2 to serve');
  const seen = new Map<string, number>();
  for (let i = 0; i < 20; i++) {
    const reply = await fetchVia(lb, 'app.example.com');
    seen.set(reply, (seen.get(reply) ?? 0) + 1);
  }
  assert.deepEqual([...seen.entries()].sort(), [['200 replica-1', 10], ['200 replica-2', 10]]);
  assert.equal(lb.control.snapshot.services.get('app')?.backends.length, 2);
});
