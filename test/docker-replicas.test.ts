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

test('two `docker run` containers with the same labels share one pool named after their match', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = fixture.labels({ enable: 'true', host: 'whoami.test', port: '8080' });
  await fixture.start({ name: 'rep1', labels, env: { NAME: 'rep1' } });
  await fixture.start({ name: 'rep2', labels, env: { NAME: 'rep2' } });
  await eventually(() => (lb.control.snapshot.services.get('whoami.test')?.members.length === 2 ? true : undefined), 'both containers in the whoami.test pool');
  // A container runs before its node process listens: wait until both answer, then count.
  await eventually(async () => ((await fetchVia(lb, 'whoami.test')) === '200 rep1' ? true : undefined), 'rep1 to serve');
  await eventually(async () => ((await fetchVia(lb, 'whoami.test')) === '200 rep2' ? true : undefined), 'rep2 to serve');
  const seen = new Map<string, number>();
  for (let i = 0; i < 10; i++) {
    const reply = await fetchVia(lb, 'whoami.test');
    seen.set(reply, (seen.get(reply) ?? 0) + 1);
  }
  assert.deepEqual([...seen.entries()].sort(), [['200 rep1', 5], ['200 rep2', 5]]);
  assert.deepEqual([...lb.control.snapshot.routers.keys()], ['whoami.test']);
  const state = await dockerState(lb);
  assert.deepEqual(state.conflicts, []);
  assert.deepEqual(lb.control.snapshot.shadowed, []);
});

test('a label router with the same match as an lb.yaml router is reported as shadowed, not dropped silently', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture, '', 'routers: { "zz-yaml": { entrypoint: web, match: { host: shadow.test }, service: yamlsvc } }\nservices: { yamlsvc: { servers: [] } }\n');
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'shadow.test', port: '8080' }), env: { NAME: 'labelled' } });
  await eventually(() => (lb.control.snapshot.shadowed.length === 1 ? true : undefined), 'the shadowed router to be reported');
  assert.deepEqual(lb.control.snapshot.shadowed, [{ router: 'zz-yaml', entrypoint: 'web', by: 'shadow.test' }]);
  await eventually(async () => ((await fetchVia(lb, 'shadow.test')) === '200 labelled' ? true : undefined), 'the winning router to serve');
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
  assert.deepEqual(state.labelErrors, []);
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
