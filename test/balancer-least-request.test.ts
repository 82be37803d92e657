import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeastRequestBalancer } from '../src/balancer/least-request.js';
import { backends, seededRandom, tally } from './helpers/backends.js';

test('of two random choices the less loaded server wins', () => {
  const pool = backends(1, 1);
  pool[0]!.inFlight = 10;
  const balancer = new LeastRequestBalancer(pool, seededRandom());
  for (let i = 0; i < 50; i++) assert.equal(balancer.pick(), pool[1]);
});

test('load is compared per unit of weight', () => {
  const pool = backends(4, 1);
  pool[0]!.inFlight = 3; // 0.75 per weight
  pool[1]!.inFlight = 1; // 1 per weight
  const balancer = new LeastRequestBalancer(pool, seededRandom());
  assert.equal(balancer.pick(), pool[0]);
});

test('with equal load the choice spreads over every server', () => {
  const pool = backends(1, 1, 1, 1);
  const balancer = new LeastRequestBalancer(pool, seededRandom(7));
  const counts = tally(Array.from({ length: 4000 }, () => balancer.pick()));
  assert.equal(counts.size, 4);
  for (const count of counts.values()) assert.ok(count > 600, `uneven spread: ${[...counts.values()]}`);
});

test('a hot server is avoided while the others share the traffic', () => {
  const pool = backends(1, 1, 1, 1);
  pool[2]!.inFlight = 100;
  const balancer = new LeastRequestBalancer(pool, seededRandom(3));
  const counts = tally(Array.from({ length: 1000 }, () => balancer.pick()));
  assert.equal(counts.get('10.0.0.3:80'), undefined);
});

test('exclusion leaves the only other server', () => {
  const pool = backends(1, 1);
  const balancer = new LeastRequestBalancer(pool, seededRandom());
  for (let i = 0; i < 20; i++) assert.equal(balancer.pick(undefined, pool[0]), pool[1]);
  assert.equal(new LeastRequestBalancer([]).pick(), undefined);
});
