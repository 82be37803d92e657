import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { ControlLoop } from '../src/control/control-loop.js';
import { buildSnapshot } from '../src/control/snapshot.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { FileProvider } from '../src/providers/file.js';
import { lbYaml } from './helpers/config.js';

function config(settings = '', servers = 4) {
  const list = Array.from({ length: servers }, (_, i) => `{ url: "http://127.0.0.${i + 1}:80" }`).join(', ');
  return parseConfig(lbYaml(`routers: { r: { entrypoint: web, service: s } }\nservices: { s: { ${settings} servers: [ ${list} ] } }\n`), 't.yaml');
}

test('below the panic threshold the balancer uses every server', () => {
  const c = config();
  const onlyFirst = (_s: unknown, b: { host: string }) => ({ usable: b.host === '127.0.0.1', known: true });
  const panicked = buildSnapshot(c.entrypoints, c, undefined, onlyFirst).services.get('s')!;
  assert.equal(panicked.panic, true);
  assert.equal(panicked.members.length, 4);
  const halfUp = buildSnapshot(c.entrypoints, c, undefined, (_s, b) => ({ usable: b.host <= '127.0.0.2', known: true })).services.get('s')!;
  assert.equal(halfUp.panic, false, 'exactly at 50% is not panic');
  assert.equal(halfUp.members.length, 2);
});

test('servers still starting (never healthy) count neither towards panic nor, in panic, as members', () => {
  const c = config();
  const pool = buildSnapshot(c.entrypoints, c, undefined, (_s, b) => ({ usable: b.host === '127.0.0.1', known: b.host <= '127.0.0.3' })).services.get('s')!;
  assert.equal(pool.panic, true, '1 healthy of 3 that ever were');
  assert.deepEqual(pool.members.map((b) => b.host), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  const halfOfKnown = buildSnapshot(c.entrypoints, c, undefined, (_s, b) => ({ usable: b.host === '127.0.0.1', known: b.host <= '127.0.0.2' })).services.get('s')!;
  assert.equal(halfOfKnown.panic, false, '1 healthy of the 2 that ever were, 2 starting: no panic');
  assert.deepEqual(halfOfKnown.members.map((b) => b.host), ['127.0.0.1']);
  const fresh = buildSnapshot(c.entrypoints, c, undefined, () => ({ usable: false, known: false })).services.get('s')!;
  assert.equal(fresh.panic, false, 'a pool warming up is not in panic');
  assert.equal(fresh.members.length, 0, 'servers that never passed a check get no traffic');
  const oneStarting = buildSnapshot(c.entrypoints, c, undefined, (_s, b) => ({ usable: b.host !== '127.0.0.4', known: b.host !== '127.0.0.4' })).services.get('s')!;
  assert.equal(oneStarting.panic, false);
  assert.equal(oneStarting.members.length, 3);
});

test('with the threshold at 0 an all-unhealthy pool has no member (503)', () => {
  const c = config('panicThreshold: 0,');
  const pool = buildSnapshot(c.entrypoints, c, undefined, () => ({ usable: false, known: true })).services.get('s')!;
  assert.equal(pool.panic, false);
  assert.equal(pool.members.length, 0);
  assert.equal(pool.balancer.pick({ clientIp: '1.1.1.1' }), undefined);
});

test('outliers are ejected with backoff, within the pool limit, and come back', async (t) => {
  let now = 1_000_000;
  const c = config('', 4);
  const control = new ControlLoop(c.entrypoints, createLogger('silent'), new Metrics(), () => now);
  t.after(() => control.stop());
  await control.startProvider(new FileProvider(c));
  const pool = () => control.snapshot.services.get('s')!;
  const [a, b, d] = pool().backends;
  control.reportOutlier('s', a!);
  assert.equal(pool().members.includes(a!), false, 'ejected');
  control.reportOutlier('s', b!);
  control.reportOutlier('s', d!);
  assert.equal(pool().members.length, 2, 'no more than 50% of four servers');
  assert.equal(control.healthOf('s', a!)!.ejectedUntil, 1_000_000 + 30_000);
  now += 30_001;
  control.reportOutlier('s', a!);
  assert.equal(control.healthOf('s', a!)!.ejectedUntil, now + 60_000, 'the second ejection lasts twice as long');
});

test('a pool of two can still eject one server', async (t) => {
  const c = config('', 2);
  const control = new ControlLoop(c.entrypoints, createLogger('silent'), new Metrics());
  t.after(() => control.stop());
  await control.startProvider(new FileProvider(c));
  const [a, b] = control.snapshot.services.get('s')!.backends;
  control.reportOutlier('s', a!);
  control.reportOutlier('s', b!);
  assert.deepEqual(control.snapshot.services.get('s')!.members, [b]);
});
