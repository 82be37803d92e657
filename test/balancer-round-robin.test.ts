import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoundRobinBalancer } from '../src/balancer/round-robin.js';
import { backends, tally } from './helpers/backends.js';

test('smooth weighted round-robin interleaves instead of bursting (nginx sequence)', () => {
  const pool = backends(5, 1, 1);
  const balancer = new RoundRobinBalancer(pool);
  const names = Array.from({ length: 7 }, () => balancer.pick()!.host.slice(-1));
  assert.deepEqual(names, ['1', '1', '2', '1', '3', '1', '1']);
});

test('over many picks each server gets exactly its weight share', () => {
  const pool = backends(3, 2, 1);
  const balancer = new RoundRobinBalancer(pool);
  const counts = tally(Array.from({ length: 600 }, () => balancer.pick()));
  assert.deepEqual([...counts.values()], [300, 200, 100]);
});

test('an excluded or zero-weight server is skipped', () => {
  const pool = backends(1, 0, 1);
  const balancer = new RoundRobinBalancer(pool);
  const counts = tally(Array.from({ length: 10 }, () => balancer.pick(undefined, pool[0])));
  assert.deepEqual([...counts.entries()], [['10.0.0.3:80', 10]]);
  assert.equal(new RoundRobinBalancer(backends(0)).pick(), undefined);
  assert.equal(new RoundRobinBalancer([]).pick(), undefined);
});
