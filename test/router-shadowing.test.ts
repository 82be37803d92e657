import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

test('a router that can never win is reported in /api/state and in lb_router_shadowed, and the winner serves', { timeout: 30_000 }, async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => res.end('b'));
  const lb = await startLb(t, lbYaml(`
routers:
  alpha: { entrypoint: web, match: { host: [x.test, y.test], pathPrefix: /api }, service: a }
  beta:  { entrypoint: web, match: { host: [Y.test, x.test], pathPrefix: /api }, service: b }
  gamma: { entrypoint: web, match: { host: [x.test, y.test], pathPrefix: /api }, priority: 1, service: b }
  delta: { entrypoint: other, match: { host: [x.test, y.test], pathPrefix: /api }, service: b }
services:
  a: { servers: [ { url: "http://127.0.0.1:${a.port}" } ] }
  b: { servers: [ { url: "http://127.0.0.1:${b.port}" } ] }
`, { entrypoints: { other: '' } }));
  // beta matches what alpha matches (host order and case aside) at the same priority, and loses
  // on name order; gamma has its own priority and delta its own entrypoint.
  const state = (await (await request(`${lb.url('admin')}/api/state`)).body.json()) as { conflicts: Array<{ router: string; entrypoint: string; by: string; reason: string }> };
  assert.deepEqual(state.conflicts.map(({ router, entrypoint, by }) => ({ router, entrypoint, by })), [{ router: 'beta', entrypoint: 'web', by: 'alpha' }]);
  assert.match(state.conflicts[0]!.reason, /can never win/);
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_router_shadowed\{entrypoint="web",router="beta"\} 1$/m);
  assert.doesNotMatch(metrics, /lb_router_shadowed\{[^}]*router="(alpha|gamma|delta)"/);
  const res = await request(`${lb.url('other')}/api`, { headers: { host: 'x.test' } });
  assert.equal(await res.body.text(), 'b');
  const winner = await request(`${lb.url('web')}/api`, { headers: { host: 'y.test' } });
  assert.equal(await winner.body.text(), 'b', 'gamma has the higher priority');
});

test('when the shadowing router goes away on reload, the report clears', { timeout: 30_000 }, async (t) => {
  const yaml = (routers: string) => lbYaml(`
routers: { ${routers} }
services: { s: { servers: [] } }
`);
  const lb = await startLb(t, yaml('one: { entrypoint: web, service: s }, two: { entrypoint: web, service: s }'));
  assert.deepEqual(lb.control.snapshot.shadowed, [{ router: 'two', entrypoint: 'web', by: 'one' }]);
  await lb.reload(parseConfig(yaml('two: { entrypoint: web, service: s }'), 'test.yaml'));
  assert.deepEqual(lb.control.snapshot.shadowed, []);
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.doesNotMatch(metrics, /^lb_router_shadowed\{/m);
});
