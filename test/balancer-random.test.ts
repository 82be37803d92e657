import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RandomBalancer } from '../src/balancer/random.js';
import { backends, seededRandom, tally } from './helpers/backends.js';

test('weighted random follows the weights', () => {
  const pool = backends(6, 3, 1);
  const balancer = new RandomBalancer(pool, seededRandom(11));
  const n = 20_000;
  const counts = tally(Array.from({ length: n }, () => balancer.pick()));
  const shares = pool.map((b) => counts.get(b.id)! / n);
  for (const [i, expected] of [0.6, 0.3, 0.1].entries()) {
    assert.ok(Math.abs(shares[i]! - expected) < 0.02, `share ${i} is ${shares[i]}, expected ${expected}`);
  }
});

test('weighted random never picks an excluded or zero-weight server', () => {
  const pool = backends(1, 0, 1);
  const balancer = new RandomBalancer(pool, seededRandom(5));
  for (let i = 0; i < 200; i++) assert.equal(balancer.pick(undefined, pool[0]), pool[2]);
  assert.equal(new RandomBalancer(backends(0, 0)).pick(), undefined);
});
