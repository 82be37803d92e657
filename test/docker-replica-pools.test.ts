import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLabels } from '../src/providers/docker/labels.js';
import { ReplicaPools } from '../src/providers/docker/replicas.js';

/** The service `app` as one compose container's labels define it. */
function app(labels: Record<string, string>) {
  const { config, errors } = parseLabels({ 'lb.enable': 'true', 'lb.port': '80', ...labels }, { prefix: 'lb', exposedByDefault: false, name: 'app', composeService: 'app' });
  assert.deepEqual(errors, []);
  return config!.services.get('app')!;
}

const server = (host: string) => ({ scheme: 'http' as const, host, port: 80, weight: 1 });

test('replicas pool their servers; settings merge key by key, the newest winning, and each clash names both containers', () => {
  const pools = new ReplicaPools();
  pools.add('c1', app({ 'lb.retries': '2', 'lb.healthcheck.path': '/a', 'lb.healthcheck.interval': '1s' }));
  pools.addServer('app', server('10.0.0.1'));
  pools.add('c2', app({}));
  pools.addServer('app', server('10.0.0.2'));
  pools.add('c3', app({ 'lb.retries': '3', 'lb.healthcheck.path': '/b' }));
  pools.addServer('app', server('10.0.0.3'));
  const config = pools.build().get('app')!;
  assert.deepEqual(config.servers.map((s) => s.host), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.equal(config.retry.attempts, 3);
  assert.deepEqual([config.healthCheck!.path, config.healthCheck!.intervalMs], ['/b', 1000], 'a key the newest does not set keeps an older value');
  assert.deepEqual(pools.conflicts, [
    'service app: retries 2 (c1) and 3 (c3) disagree; using 3 (newest)',
    'service app: healthCheck.path /a (c1) and /b (c3) disagree; using /b (newest)',
  ]);
});

test('settings that are valid alone but not together: the newest container\'s own apply, and the clash is reported', () => {
  const pools = new ReplicaPools();
  pools.add('old', app({ 'lb.healthcheck.path': '/h', 'lb.healthcheck.interval': '1s' }));
  pools.add('new', app({ 'lb.healthcheck.path': '/h', 'lb.healthcheck.timeout': '3s' }));
  const config = pools.build().get('app')!;
  assert.deepEqual([config.healthCheck!.intervalMs, config.healthCheck!.timeoutMs], [5000, 3000]);
  assert.match(pools.conflicts.at(-1)!, /^service app: the replicas' settings do not combine \(healthCheck\.timeout: the timeout \(3000ms\) must be shorter than the interval \(1000ms\)\); using the newest container's$/);
});

test('a container\'s settings tree is not shared with the pool: a later merge does not change it', () => {
  const first = app({ 'lb.healthcheck.path': '/a' });
  const pools = new ReplicaPools();
  pools.add('c1', first);
  pools.add('c2', app({ 'lb.healthcheck.path': '/b' }));
  assert.deepEqual(first.settings, { healthCheck: { path: '/a' } });
});
