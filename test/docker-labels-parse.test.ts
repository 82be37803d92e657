import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultName, parseLabels } from '../src/providers/docker/labels.js';

const options = { prefix: 'lb', exposedByDefault: false, name: 'web' };

test('the short form makes one router and one service named after the container', () => {
  const { config, errors } = parseLabels({ 'lb.enable': 'true', 'lb.host': 'a.example.com, B.example.com', 'lb.path': '/api', 'lb.port': '8080', 'lb.weight': '2', 'lb.network': 'front', 'lb.scheme': 'https' }, options);
  assert.deepEqual(errors, []);
  assert.deepEqual(config!.routers, [{ name: 'web', protocol: 'http', service: 'web', hosts: ['a.example.com', 'b.example.com'], pathPrefix: '/api', headers: [] }]);
  assert.deepEqual(config!.services.get('web'), { name: 'web', port: 8080, weight: 2, network: 'front', scheme: 'https' });
});

test('enable alone gives a service and no router', () => {
  const { config } = parseLabels({ 'lb.enable': 'true', 'lb.port': '80' }, options);
  assert.equal(config!.routers.length, 0);
  assert.equal(config!.services.get('web')!.port, 80);
});

test('the long form defines several routers, TCP routers and services', () => {
  const { config, errors } = parseLabels({
    'lb.enable': 'true',
    'lb.http.routers.site.host': 'site.example.com',
    'lb.http.routers.site.service': 'site',
    'lb.http.routers.admin.host': 'admin.example.com',
    'lb.http.routers.admin.headers': 'X-Env=canary, X-Team=ops',
    'lb.http.routers.admin.priority': '10',
    'lb.http.routers.admin.service': 'adminsvc',
    'lb.tcp.routers.db.entrypoint': 'pg',
    'lb.tcp.routers.db.service': 'pg',
    'lb.services.site.port': '3000',
    'lb.services.site.balancer': 'least_request',
    'lb.services.adminsvc.port': '3001',
    'lb.services.pg.port': '5432',
    'lb.services.site.healthcheck.path': '/health',
    'lb.services.site.healthcheck.interval': '5s',
  }, options);
  assert.deepEqual(errors, []);
  const admin = config!.routers.find((r) => r.name === 'admin')!;
  assert.deepEqual(admin.headers, [['x-env', 'canary'], ['x-team', 'ops']]);
  assert.equal(admin.priority, 10);
  assert.equal(config!.routers.find((r) => r.name === 'db')!.protocol, 'tcp');
  assert.equal(config!.services.get('site')!.balancer, 'least_request');
  assert.deepEqual(config!.services.get('site')!.healthcheck, { path: '/health', intervalMs: 5000 });
  assert.deepEqual([...config!.services.keys()].sort(), ['adminsvc', 'pg', 'site']);
});

test('a router without a service uses the only service of the container', () => {
  const { config } = parseLabels({ 'lb.enable': 'true', 'lb.http.routers.r.host': 'r.example.com', 'lb.services.api.port': '9000' }, options);
  assert.equal(config!.routers[0]!.service, 'api');
});

test('every bad label is reported with a suggestion, and the container is left out', () => {
  const { config, errors } = parseLabels({
    'lb.enable': 'true',
    'lb.hots': 'x.example.com',
    'lb.port': '99999',
    'lb.http.routers.r.hots': 'x',
    'lb.http.routres.r.host': 'x',
    'lb.services.s.balancer': 'round-robin',
    'lb.services.s.healthcheck.intervl': '5s',
    'lb.scheme': 'htp',
  }, options);
  assert.equal(config, undefined);
  const byLabel = Object.fromEntries(errors.map((e) => [e.label, e.message]));
  assert.equal(byLabel['lb.hots'], 'unknown key "hots" (did you mean "host"?)');
  assert.equal(byLabel['lb.port'], 'expected a port between 1 and 65535, got "99999"');
  assert.equal(byLabel['lb.http.routers.r.hots'], 'unknown key "hots" (did you mean "host"?)');
  assert.match(byLabel['lb.http.routres.r.host']!, /expected lb\.http\.routers\.NAME\.KEY \("routres" \(did you mean "routers"\?\)\)/);
  assert.match(byLabel['lb.services.s.balancer']!, /did you mean "round_robin"\?/);
  assert.equal(byLabel['lb.services.s.healthcheck.intervl'], 'unknown key "intervl" (did you mean "interval"?)');
  assert.match(byLabel['lb.scheme']!, /did you mean "http"\?/);
});

test('exposedByDefault and lb.enable decide whether a container is considered', () => {
  assert.equal(parseLabels({ 'lb.port': '80' }, options).enabled, false);
  assert.equal(parseLabels({ 'lb.port': '80' }, { ...options, exposedByDefault: true }).enabled, true);
  assert.equal(parseLabels({ 'lb.enable': 'false', 'lb.port': '80' }, { ...options, exposedByDefault: true }).enabled, false);
  assert.equal(parseLabels({ 'lb.enable': 'yes' }, options).errors[0]!.message, 'expected true or false, got "yes"');
  assert.equal(parseLabels({ 'other.label': 'x' }, { ...options, exposedByDefault: true }).enabled, false);
});

test('names come from the compose service, else the container name', () => {
  assert.equal(defaultName('/proj-web-1', 'web'), 'web');
  assert.equal(defaultName('/my_container', undefined), 'my_container');
});
