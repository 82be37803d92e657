import assert from 'node:assert/strict';
import { test } from 'node:test';
import { docker, DockerFixture, eventually, requireDocker, startDockerLb } from './helpers/docker.js';
import { usableServers } from './helpers/lb.js';
import { startLoad } from './helpers/load.js';

test('docker kill -s KILL on one of three replicas under GET load: retries hide it', { timeout: 90_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const labels = {
    ...fixture.labels({ enable: 'true', host: 'kill.example.com', port: '8080', 'healthcheck.path': '/health', 'healthcheck.interval': '1s', 'healthcheck.timeout': '500ms' }),
    'com.docker.compose.service': 'kill',
  };
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await fixture.start({ labels, env: { NAME: `r${i}` } }));
  const usable = () => usableServers(lb, 'kill');
  await eventually(() => (usable() === 3 ? true : undefined), 'three healthy replicas', 20_000);

  const stop = new AbortController();
  const load = startLoad({ url: lb.url('web'), host: 'kill.example.com', connections: 20, maxMs: 30_000, signal: stop.signal });
  await eventually(() => load.progress.ok >= 200, 'the load to be under way (200 answers)');
  await docker('kill', '-s', 'KILL', ids[1]!);
  await eventually(() => (lb.control.snapshot.services.get('kill')!.backends.length === 2 ? true : undefined), 'the killed replica to leave');
  const answered = load.progress.ok;
  await eventually(() => load.progress.ok >= answered + 500, 'the load to go on after the kill (500 more answers)');
  stop.abort();
  const result = await load.done;
  t.diagnostic(`killed replica: ${result.requests} GETs, ${result.ok} 2xx, failed: ${JSON.stringify([...result.failures])}`);
  assert.deepEqual([...result.failures], []);
});
