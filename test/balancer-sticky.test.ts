import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StickyBalancer } from '../src/balancer/sticky.js';
import { backends } from './helpers/backends.js';

const policy = { cookie: 'lb_sticky', secure: false };

function cookieFrom(setCookie: string): string {
  return setCookie.split(';')[0]!;
}

test('a new client is pinned with an HttpOnly, SameSite=Lax cookie and stays pinned', () => {
  const pool = backends(1, 1, 1);
  const balancer = new StickyBalancer(pool, policy);
  const first = balancer.pick({ clientIp: '1.1.1.1', headers: {} })!;
  const setCookie = balancer.affinityCookie({ clientIp: '1.1.1.1', headers: {} }, first)!;
  assert.match(setCookie, /^lb_sticky=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax$/);
  assert.ok(!setCookie.includes('10.0.0'), 'the cookie must not reveal the server address');
  const headers = { cookie: `other=1; ${cookieFrom(setCookie)}` };
  for (let i = 0; i < 20; i++) assert.equal(balancer.pick({ clientIp: '2.2.2.2', headers }), first);
  assert.equal(balancer.affinityCookie({ clientIp: '2.2.2.2', headers }, first), undefined, 'no new cookie while the pin holds');
});

test('without a cookie, clients are spread round-robin', () => {
  const pool = backends(1, 1, 1);
  const balancer = new StickyBalancer(pool, policy);
  const picks = new Set(Array.from({ length: 3 }, () => balancer.pick({ clientIp: '1.1.1.1', headers: {} })));
  assert.equal(picks.size, 3);
});

test('when the pinned server is gone the client is re-pinned', () => {
  const pool = backends(1, 1, 1);
  const before = new StickyBalancer(pool, policy);
  const pinned = pool[1]!;
  const headers = { cookie: cookieFrom(before.affinityCookie({ clientIp: 'x', headers: {} }, pinned)!) };
  const after = new StickyBalancer([pool[0]!, pool[2]!], policy);
  const repinned = after.pick({ clientIp: 'x', headers })!;
  assert.notEqual(repinned, pinned);
  assert.match(after.affinityCookie({ clientIp: 'x', headers }, repinned)!, /^lb_sticky=/);
  assert.equal(before.pick({ clientIp: 'x', headers }, pinned) === pinned, false, 'an excluded pin is not used');
});

test('Secure is added when configured', () => {
  const pool = backends(1);
  const balancer = new StickyBalancer(pool, { cookie: 'route', secure: true });
  assert.match(balancer.affinityCookie({ clientIp: 'x', headers: {} }, pool[0]!)!, /^route=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
});
