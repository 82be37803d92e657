import assert from 'node:assert/strict';
import { test } from 'node:test';
import { docker, dockerConnected, DockerFixture, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';
import { DockerRelay } from './helpers/docker-relay.js';
import { startLoad } from './helpers/load.js';

// The Docker API goes away under load (through a relay: restarting the shared engine would stop
// every container on it) and comes back. The last known pools serve throughout with no failed
// request, and once lb is connected again its pools are what the engine lists: a container
// started while lb was blind serves, and one removed meanwhile is gone.

test('the Docker API away under load: zero failed requests, and after reconnecting the pools match the engine', { timeout: 120_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const relay = new DockerRelay(t);
  await relay.open();
  const lb = await startDockerLb(t, fixture, `endpoint: "${relay.endpoint}"`);
  for (const name of ['a1', 'a2']) await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'a.example.com', port: '8080' }), env: { NAME: name } });
  const gone = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'gone.example.com', port: '8080' }), env: { NAME: 'gone' } });
  await eventually(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await fetchVia(lb, 'a.example.com'));
    return seen.has('200 a1') && seen.has('200 a2') && (await fetchVia(lb, 'gone.example.com')) === '200 gone' ? true : undefined;
  }, 'both replicas of a and the container "gone" to serve', 30_000);

  const stop = new AbortController();
  const load = startLoad({ url: lb.url('web'), host: 'a.example.com', connections: 10, maxMs: 60_000, withPosts: true, signal: stop.signal });
  t.after(() => stop.abort());
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    relay.cut();
    await eventually(async () => ((await dockerConnected(lb.url('admin'))) === 0 ? true : undefined), 'lb_docker_connected to drop to 0');
    // While lb is blind, one container starts and another goes: only a resync after reconnecting can see either.
    await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'new.example.com', port: '8080' }), env: { NAME: 'new' } });
    await docker('rm', '-f', gone);
    // A fixed window on purpose: the engine's events pass while lb is blind, under load.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const blind = load.progress.requests;
    await relay.open();
    await eventually(async () => ((await fetchVia(lb, 'new.example.com')) === '200 new' ? true : undefined), 'the container started while lb was blind to serve', 40_000);
    await eventually(async () => ((await fetchVia(lb, 'gone.example.com')).startsWith('404') ? true : undefined), 'the container removed while lb was blind to leave its pool', 10_000);
    assert.equal(await dockerConnected(lb.url('admin')), 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop.abort();
    const result = await load.done;
    const failed = [...result.failures.values()].reduce((a, b) => a + b, 0);
    t.diagnostic(`${result.requests} requests (${blind} by the end of the outage), ${failed} failed: ${JSON.stringify([...result.failures])}`);
    assert.ok(blind > 100, `the load ran through the outage (${blind} requests)`);
    assert.equal(failed, 0, `failures: ${JSON.stringify([...result.failures])}`);
  } finally {
    stop.abort();
    await load.done;
  }
});
