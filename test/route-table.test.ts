import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseHost, RouteTable } from '../src/control/route-table.js';
import type { RouterMatch } from '../src/config/types.js';

function route(name: string, match: Partial<RouterMatch>, priority?: number) {
  return { name, match: { hosts: [], headers: [], ...match }, ...(priority !== undefined ? { priority } : {}), value: name };
}

test('an exact host beats a wildcard, which beats any host', () => {
  const table = new RouteTable([route('any', {}), route('wild', { hosts: ['*.example.com'] }), route('exact', { hosts: ['app.example.com'] })]);
  assert.equal(table.lookup('app.example.com', '/', {}), 'exact');
  assert.equal(table.lookup('api.example.com', '/', {}), 'wild');
  assert.equal(table.lookup('deep.api.example.com', '/', {}), 'wild');
  assert.equal(table.lookup('example.com', '/', {}), 'any');
  assert.equal(table.lookup('other.org', '/', {}), 'any');
});

test('the longest wildcard suffix wins', () => {
  const table = new RouteTable([route('broad', { hosts: ['*.example.com'] }), route('narrow', { hosts: ['*.eu.example.com'] })]);
  assert.equal(table.lookup('a.eu.example.com', '/', {}), 'narrow');
  assert.equal(table.lookup('a.us.example.com', '/', {}), 'broad');
});

test('the longest path prefix wins, and falls back when it does not match', () => {
  const table = new RouteTable([route('root', { hosts: ['a.com'], pathPrefix: '/' }), route('api', { hosts: ['a.com'], pathPrefix: '/api' })]);
  assert.equal(table.lookup('a.com', '/api/users', {}), 'api');
  assert.equal(table.lookup('a.com', '/home', {}), 'root');
});

test('header conditions narrow a route', () => {
  const table = new RouteTable([route('stable', { hosts: ['a.com'] }), route('canary', { hosts: ['a.com'], headers: [['x-canary', 'yes']] })]);
  assert.equal(table.lookup('a.com', '/', { 'x-canary': 'yes' }), 'canary');
  assert.equal(table.lookup('a.com', '/', { 'x-canary': 'no' }), 'stable');
  assert.equal(table.lookup('a.com', '/', {}), 'stable');
});

test('an explicit priority overrides specificity', () => {
  const table = new RouteTable([route('exact', { hosts: ['a.com'] }), route('maintenance', {}, 10), route('fallback', {}, -1)]);
  assert.equal(table.lookup('a.com', '/', {}), 'maintenance');
  const low = new RouteTable([route('exact', { hosts: ['a.com'], pathPrefix: '/x' }), route('fallback', {}, -1)]);
  assert.equal(low.lookup('a.com', '/y', {}), 'fallback');
});

test('no matching route gives undefined', () => {
  const table = new RouteTable([route('a', { hosts: ['a.com'] })]);
  assert.equal(table.lookup('b.com', '/', {}), undefined);
});

test('lookup cost does not depend on the number of host routes', () => {
  const many = Array.from({ length: 10_000 }, (_, i) => route(`r${i}`, { hosts: [`host${i}.example.com`] }));
  const table = new RouteTable(many);
  assert.equal(table.lookup('host9999.example.com', '/', {}), 'r9999');
  assert.equal(table.lookup('host0.example.com', '/', {}), 'r0');
  assert.equal(table.lookup('missing.example.com', '/', {}), undefined);
});

test('Host headers are normalised: case, port and trailing dot', () => {
  assert.equal(normaliseHost('App.Example.COM:8080'), 'app.example.com');
  assert.equal(normaliseHost('app.example.com.'), 'app.example.com');
  assert.equal(normaliseHost('[::1]:8080'), '[::1]');
  assert.equal(normaliseHost(undefined), '');
});
