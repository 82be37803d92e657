import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { docker, DockerFixture, dockerState, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

test('docker stop drains: no new requests, the in-flight one finishes, the route answers 503', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const id = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'stop.example.com', port: '8080' }), env: { NAME: 'doomed' } });
  await eventually(async () => ((await fetchVia(lb, 'stop.example.com')) === '200 doomed' ? true : undefined), 'routing');

  const slow = request(`${lb.url('web')}/slow`, { headers: { host: 'stop.example.com' } });
  const inFlight = () => [...lb.control.snapshot.services.values()].reduce((sum, s) => sum + s.backends.reduce((n, b) => n + b.inFlight, 0), 0);
  await eventually(() => inFlight() === 1, 'lb to send the slow request to the container');
  const stopIssued = Date.now();
  const stopping = docker('stop', '-t', '10', id);
  // Probe continuously: the last probe the container answered marks when lb stopped sending.
  let lastServed = stopIssued;
  let first503: number | undefined;
  while (first503 === undefined && Date.now() - stopIssued < 5_000) {
    const reply = await fetchVia(lb, 'stop.example.com');
    if (reply === '200 doomed') lastServed = Date.now();
    else if (reply.startsWith('503 ')) first503 = Date.now();
  }
  assert.ok(first503, 'the route must answer 503 once its only server drains');
  t.diagnostic(`docker stop → last request sent to the container: ${lastServed - stopIssued} ms; → first 503: ${first503 - stopIssued} ms`);
  const finished = await slow;
  assert.equal(finished.statusCode, 200);
  assert.equal(await finished.body.text(), 'doomed', 'the in-flight request completes during the stop');
  await stopping;
  assert.match(await fetchVia(lb, 'stop.example.com'), /^503 /, 'a stopped container leaves the route answering 503, not 404');
});

test('docker kill removes the server at once', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = { ...fixture.labels({ enable: 'true', host: 'kill.example.com', port: '8080' }), 'com.docker.compose.service': 'kill' };
  const victim = await fixture.start({ labels, env: { NAME: 'victim' } });
  await fixture.start({ labels, env: { NAME: 'survivor' } });
  await eventually(() => (lb.control.snapshot.services.get('kill')?.backends.length === 2 ? true : undefined), 'two servers');
  // A container is in the pool once started, and node in it may listen a moment later (seconds on a
  // busy machine): wait until both have answered, so that only the kill can fail a request.
  const answered = new Set<string>();
  await eventually(async () => answered.add(await fetchVia(lb, 'kill.example.com')).has('200 victim') && answered.has('200 survivor'), 'both servers to answer');
  await docker('kill', victim);
  await eventually(() => (lb.control.snapshot.services.get('kill')?.backends.length === 1 ? true : undefined), 'the victim to leave');
  for (let i = 0; i < 6; i++) assert.equal(await fetchVia(lb, 'kill.example.com'), '200 survivor');
});

test('docker pause takes the server out, unpause puts it back', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const id = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'pause.example.com', port: '8080' }), env: { NAME: 'sleepy' } });
  await eventually(async () => ((await fetchVia(lb, 'pause.example.com')) === '200 sleepy' ? true : undefined), 'routing');
  await docker('pause', id);
  // Watch the pool, not traffic: a request that reached the frozen process would hang.
  await eventually(async () => ((await dockerState(lb)).containers.find((c) => id.startsWith(c.id))?.reason === 'paused' ? true : undefined), 'a paused container to leave the pool');
  assert.match(await fetchVia(lb, 'pause.example.com'), /^503 /);
  await docker('unpause', id);
  await eventually(async () => ((await fetchVia(lb, 'pause.example.com')) === '200 sleepy' ? true : undefined), 'the unpaused container to return');
});
