import assert from 'node:assert/strict';
import { test } from 'node:test';
import { docker, DockerFixture, eventually, requireDocker, startDockerLb } from './helpers/docker.js';
import { usableServers } from './helpers/lb.js';
import { startLoad } from './helpers/load.js';

test('rolling replace of three replicas under load: every response is 2xx', { timeout: 120_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = {
    ...fixture.labels({ enable: 'true', host: 'roll.example.com', port: '8080', 'healthcheck.path': '/health', 'healthcheck.interval': '500ms', 'healthcheck.timeout': '250ms' }),
    'com.docker.compose.service': 'roll',
  };
  const usable = () => usableServers(lb, 'roll');
  const old: string[] = [];
  for (let i = 0; i < 3; i++) old.push(await fixture.start({ labels, env: { NAME: `v1-${i}` } }));
  await eventually(() => (usable() === 3 ? true : undefined), 'three healthy replicas', 20_000);

  const stopLoad = new AbortController();
  const load = startLoad({ url: lb.url('web'), host: 'roll.example.com', connections: 20, maxMs: 60_000, withPosts: true, signal: stopLoad.signal });
  await eventually(() => load.progress.ok >= 200, 'the load to be under way (200 answers)');
  for (let i = 0; i < 3; i++) {
    await fixture.start({ labels, env: { NAME: `v2-${i}` } });
    await eventually(() => (usable() === 4 ? true : undefined), `v2-${i} to be healthy`, 20_000);
    await docker('stop', '-t', '10', old[i]!);
    await eventually(() => (lb.control.snapshot.services.get('roll')!.backends.length === 3 ? true : undefined), `v1-${i} to leave`, 20_000);
  }
  const answered = load.progress.ok;
  await eventually(() => load.progress.ok >= answered + 500, 'the load to go on after the last replacement (500 more answers)');
  stopLoad.abort();
  const result = await load.done;
  t.diagnostic(`rolling replace: ${result.requests} requests (a third POSTs), ${result.ok} 2xx, failures: ${JSON.stringify([...result.failures])}`);
  assert.deepEqual([...result.failures], []);
  assert.ok(result.requests > 1000, `only ${result.requests} requests`);
});
