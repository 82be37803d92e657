import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { DockerFixture, dockerState, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

test('a bad label leaves only its container out, reported in the log, the metric and /api/state', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const bad = await fixture.start({ name: 'bad', labels: fixture.labels({ enable: 'true', hots: 'bad.example.com', port: '8080' }) });
  await fixture.start({ name: 'good', labels: fixture.labels({ enable: 'true', host: 'good.example.com', port: '8080' }), env: { NAME: 'good' } });
  await eventually(async () => ((await fetchVia(lb, 'good.example.com')) === '200 good' ? true : undefined), 'the good container to serve');

  const state = await eventually(async () => {
    const s = await dockerState(lb);
    return s.labelErrors.length ? s : undefined;
  }, 'the label error');
  assert.deepEqual(state.labelErrors, [{ container: `bad-${fixture.run}`, label: `${fixture.prefix}.hots`, message: 'unknown key "hots" (did you mean "host"?)' }]);
  const entry = state.containers.find((c) => bad.startsWith(c.id))!;
  assert.equal(entry.inPool, false);
  assert.match(entry.reason!, /^label error: /);
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_docker_label_errors_total 1$/m);
  assert.match(await fetchVia(lb, 'bad.example.com'), /^404 /);
});

test('containers without lb.enable=true and compose one-off containers are ignored', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  await fixture.start({ labels: fixture.labels({ host: 'quiet.example.com', port: '8080' }) });
  await fixture.start({ labels: { ...fixture.labels({ enable: 'true', host: 'oneoff.example.com', port: '8080' }), 'com.docker.compose.oneoff': 'True' } });
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'loud.example.com', port: '8080' }), env: { NAME: 'loud' } });
  await eventually(async () => ((await fetchVia(lb, 'loud.example.com')) === '200 loud' ? true : undefined), 'the enabled container');
  assert.match(await fetchVia(lb, 'quiet.example.com'), /^404 /);
  assert.match(await fetchVia(lb, 'oneoff.example.com'), /^404 /);
  const state = await dockerState(lb);
  assert.ok(state.containers.some((c) => c.reason?.startsWith('compose one-off container')));
});
