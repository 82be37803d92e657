import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaglevBalancer } from '../src/balancer/maglev.js';
import { backends, tally } from './helpers/backends.js';

const byIp = { on: 'client_ip' } as const;
const keys = Array.from({ length: 20_000 }, (_, i) => `192.168.${(i >> 8) & 255}.${i & 255}-${i}`);

test('the same key always reaches the same server', () => {
  const balancer = new MaglevBalancer(backends(1, 1, 1), byIp);
  for (const key of keys.slice(0, 200)) {
    const first = balancer.pick({ clientIp: key });
    for (let i = 0; i < 3; i++) assert.equal(balancer.pick({ clientIp: key }), first);
  }
});

test('keys spread evenly, and by weight', () => {
  const balancer = new MaglevBalancer(backends(1, 1, 1, 1), byIp);
  const counts = tally(keys.map((k) => balancer.pick({ clientIp: k })));
  for (const count of counts.values()) assert.ok(Math.abs(count / keys.length - 0.25) < 0.02, `uneven: ${[...counts.values()]}`);
  const weighted = new MaglevBalancer(backends(3, 1), byIp);
  const weightedCounts = tally(keys.map((k) => weighted.pick({ clientIp: k })));
  assert.ok(Math.abs(weightedCounts.get('10.0.0.1:80')! / keys.length - 0.75) < 0.02, `weighted: ${[...weightedCounts.values()]}`);
});

test('adding a fifth server moves about 1/5 of the keys, all of them to the new server', () => {
  const four = new MaglevBalancer(backends(1, 1, 1, 1), byIp);
  const fivePool = backends(1, 1, 1, 1, 1);
  const five = new MaglevBalancer(fivePool, byIp);
  let moved = 0;
  let movedElsewhere = 0;
  for (const key of keys) {
    const before = four.pick({ clientIp: key })!;
    const after = five.pick({ clientIp: key })!;
    if (before.id !== after.id) {
      moved++;
      if (after !== fivePool[4]) movedElsewhere++;
    }
  }
  const share = moved / keys.length;
  assert.ok(share > 0.17 && share < 0.25, `moved ${share}`);
  // Maglev trades perfect minimal disruption for balance: only a sliver may shuffle between old servers.
  assert.ok(movedElsewhere / keys.length < 0.03, `moved between old servers: ${movedElsewhere / keys.length}`);
});

test('removing a server only moves the keys it held', () => {
  const pool = backends(1, 1, 1, 1);
  const before = new MaglevBalancer(pool, byIp);
  const after = new MaglevBalancer(pool.slice(0, 3), byIp);
  let disturbed = 0;
  for (const key of keys) {
    const was = before.pick({ clientIp: key })!;
    if (was !== pool[3] && after.pick({ clientIp: key }) !== was) disturbed++;
  }
  assert.ok(disturbed / keys.length < 0.03, `disturbed ${disturbed / keys.length}`);
});

test('hashing on a header or cookie, with the client address as fallback', () => {
  const pool = backends(1, 1, 1, 1, 1, 1, 1, 1);
  const byHeader = new MaglevBalancer(pool, { on: 'header', name: 'X-User' });
  const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
  const choices = new Set(users.map((u) => byHeader.pick({ clientIp: '1.1.1.1', headers: { 'x-user': u } })!.id));
  assert.ok(choices.size > 4, 'different header values should spread over servers');
  for (const u of users) {
    assert.equal(byHeader.pick({ clientIp: '1.1.1.1', headers: { 'x-user': u } }), byHeader.pick({ clientIp: '2.2.2.2', headers: { 'x-user': u } }));
  }
  const byCookie = new MaglevBalancer(pool, { on: 'cookie', name: 'session' });
  assert.equal(
    byCookie.pick({ clientIp: '1.1.1.1', headers: { cookie: 'a=1; session=abc; b=2' } }),
    byCookie.pick({ clientIp: '9.9.9.9', headers: { cookie: 'session=abc' } }),
  );
  assert.equal(byCookie.pick({ clientIp: '3.3.3.3', headers: {} }), byCookie.pick({ clientIp: '3.3.3.3' }));
});

test('an excluded server falls through to a stable alternative', () => {
  const pool = backends(1, 1, 1);
  const balancer = new MaglevBalancer(pool, byIp);
  for (const key of keys.slice(0, 100)) {
    const first = balancer.pick({ clientIp: key })!;
    const alternative = balancer.pick({ clientIp: key }, first)!;
    assert.notEqual(alternative, first);
    assert.equal(balancer.pick({ clientIp: key }, first), alternative);
  }
});
