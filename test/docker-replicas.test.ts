import assert from 'node:assert/strict';
import { test } from 'node:test';
import { docker, DockerFixture, dockerState, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

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

test('replicas that disagree: the newest wins, the conflict is reported, the route stays', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = (balancer: string) => ({
    ...fixture.labels({ enable: 'true', host: 'mixed.example.com', port: '8080', 'services.mixed.balancer': balancer }),
    'com.docker.compose.service': 'mixed',
  });
  await fixture.start({ labels: labels('round_robin'), env: { NAME: 'old' } });
  await eventually(() => (lb.control.snapshot.services.get('mixed')?.backends.length === 1 ? true : undefined), 'the first replica');
  await fixture.start({ labels: labels('least_request'), env: { NAME: 'new' } });
  await eventually(() => (lb.control.snapshot.services.get('mixed')?.backends.length === 2 ? true : undefined), 'both replicas');
  assert.equal(lb.control.snapshot.services.get('mixed')!.config.balancer, 'least_request');
  const state = await dockerState(lb);
  assert.equal(state.conflicts.length, 1);
  assert.match(state.conflicts[0]!, /^service mixed: balancer round_robin \(.*\) and least_request \(.*\) disagree; using least_request \(newest\)$/);
  await eventually(async () => ((await fetchVia(lb, 'mixed.example.com')) === '200 new' ? true : undefined), 'the route to keep serving');
});

test('a container joining and leaving does not disturb requests in flight to another', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = { ...fixture.labels({ enable: 'true', host: 'steady.example.com', port: '8080' }), 'com.docker.compose.service': 'steady' };
  await fixture.start({ labels, env: { NAME: 'steady' } });
  await eventually(async () => ((await fetchVia(lb, 'steady.example.com')) === '200 steady' ? true : undefined), 'routing');
  const inFlight = Array.from({ length: 3 }, () => fetchVia(lb, 'steady.example.com', '/slow'));
  const passing = await fixture.start({ labels, env: { NAME: 'passing' } });
  await eventually(() => (lb.control.snapshot.services.get('steady')?.backends.length === 2 ? true : undefined), 'the second replica');
  await docker('rm', '-f', passing);
  await eventually(() => (lb.control.snapshot.services.get('steady')?.backends.length === 1 ? true : undefined), 'the second replica to leave');
  assert.deepEqual(await Promise.all(inFlight), ['200 steady', '200 steady', '200 steady']);
});
