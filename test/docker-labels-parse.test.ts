import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultName, parseLabels } from '../src/providers/docker/labels.js';

const compose = { prefix: 'lb', exposedByDefault: false, name: 'web', composeService: 'web' };
const plain = { prefix: 'lb', exposedByDefault: false, name: 'rep1' };

function parsed(labels: Record<string, string>, options: Parameters<typeof parseLabels>[1] = compose) {
  const result = parseLabels({ 'lb.enable': 'true', ...labels }, options);
  assert.deepEqual(result.errors, []);
  return result.config!;
}

function errorsOf(labels: Record<string, string>, options: Parameters<typeof parseLabels>[1] = compose): Record<string, string> {
  const result = parseLabels({ 'lb.enable': 'true', ...labels }, options);
  assert.equal(result.config, undefined, 'the container is left out');
  return Object.fromEntries(result.errors.map((e) => [e.label, e.message]));
}

test('the short form makes one router and one service named after the compose service', () => {
  const config = parsed({ 'lb.host': 'a.example.com, B.example.com', 'lb.path': '/api', 'lb.port': '8080', 'lb.weight': '2', 'lb.network': 'front', 'lb.scheme': 'https' });
  assert.deepEqual(config.routers, [{ protocol: 'http', hasEntrypoint: false, entrypointLabel: 'lb.entrypoint', tls: false, config: { name: 'web', entrypoint: '', service: 'web', match: { hosts: ['a.example.com', 'b.example.com'], pathPrefix: '/api', headers: [] } } }]);
  assert.deepEqual(config.services.get('web')!.server, { port: 8080, weight: 2, network: 'front', scheme: 'https' });
});

test('without a compose service, the short form is named after its match, so that replicas share one pool', () => {
  const one = parsed({ 'lb.host': 'Whoami.test', 'lb.port': '8080' }, plain);
  const two = parsed({ 'lb.host': 'whoami.test', 'lb.port': '8080' }, { ...plain, name: 'rep2' });
  assert.deepEqual(one.routers.map((r) => r.config), two.routers.map((r) => r.config));
  assert.equal(one.routers[0]!.config.name, 'whoami.test');
  assert.deepEqual([...one.services.keys()], ['whoami.test']);
  assert.equal(parsed({ 'lb.host': 'b.test,a.test', 'lb.path': '/api' }, plain).routers[0]!.config.name, 'a.test,b.test/api');
  // Containers that route differently are not replicas: headers, entrypoint and priority count.
  assert.equal(parsed({ 'lb.host': 'a.test', 'lb.headers': 'X-Env=blue' }, plain).routers[0]!.config.name, 'a.test?x-env=blue');
  assert.equal(parsed({ 'lb.host': 'a.test', 'lb.entrypoint': 'websecure', 'lb.priority': '5' }, plain).routers[0]!.config.name, 'a.test@websecure#5');
  assert.deepEqual([...parsed({ 'lb.port': '80' }, plain).services.keys()], ['rep1'], 'a container without a router keeps its own name');
});

test('enable alone gives a service and no router', () => {
  const config = parsed({ 'lb.port': '80' });
  assert.equal(config.routers.length, 0);
  assert.equal(config.services.get('web')!.server.port, 80);
});

test('the long form defines several routers, TCP routers and services', () => {
  const config = parsed({
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
  });
  const admin = config.routers.find((r) => r.config.name === 'admin')!.config;
  assert.deepEqual(admin.match.headers, [['x-env', 'canary'], ['x-team', 'ops']]);
  assert.equal(admin.priority, 10);
  assert.equal(config.routers.find((r) => r.config.name === 'db')!.protocol, 'tcp');
  assert.equal(config.services.get('pg')!.protocol, 'tcp');
  const site = config.services.get('site')!.config;
  assert.equal(site.balancer, 'least_request');
  assert.deepEqual([site.healthCheck!.type, site.healthCheck!.path, site.healthCheck!.intervalMs, site.healthCheck!.timeoutMs], ['http', '/health', 5000, 2000]);
  assert.deepEqual([...config.services.keys()].sort(), ['adminsvc', 'pg', 'site']);
});

test('every service key of lb.yaml can be set by a label, with its lb.yaml default otherwise', () => {
  const config = parsed({
    'lb.http.services.api.port': '3000',
    'lb.http.services.api.retries': '3',
    'lb.http.services.api.retryBudget': '50',
    'lb.http.services.api.timeouts.connect': '250ms',
    'lb.http.services.api.timeouts.responseHeaders': '2s',
    'lb.http.services.api.unsafeReuse': 'safe',
    'lb.http.services.api.panicThreshold': '0',
    'lb.http.services.api.outlierDetection.consecutiveFailures': '2',
    'lb.http.services.api.outlierDetection.baseEjectionTime': '5s',
    'lb.http.services.api.sticky.cookie': 'srv',
    'lb.http.services.api.balancer': 'sticky',
    'lb.http.services.api.drainTimeout': '1s',
    'lb.http.services.api.healthCheck.expectStatus': '200,204-299',
    'lb.http.services.api.healthCheck.headers.X-Probe': 'lb',
  });
  const api = config.services.get('api')!.config;
  assert.deepEqual(api.retry, { attempts: 3, budgetPercent: 50, bufferBodyBytes: 65536, unsafeReuse: 'safe' });
  assert.deepEqual(api.timeouts, { connectMs: 250, responseHeadersMs: 2000, idleMs: 60_000 });
  assert.equal(api.panicThresholdPercent, 0);
  assert.deepEqual(api.outlierDetection, { consecutiveFailures: 2, baseEjectionMs: 5000, maxEjectionMs: 300_000, maxEjectionPercent: 50 });
  assert.deepEqual(api.sticky, { cookie: 'srv', secure: false });
  assert.equal(api.drainTimeoutMs, 1000);
  assert.deepEqual(api.healthCheck!.expectStatus, [[200, 200], [204, 299]]);
  assert.deepEqual(api.healthCheck!.headers, [['X-Probe', 'lb']]);
  const plainService = parsed({ 'lb.port': '80' }).services.get('web')!.config;
  assert.deepEqual([plainService.retry.attempts, plainService.timeouts.connectMs, plainService.drainTimeoutMs], [1, 5000, 30_000]);
});

test('the short form takes service keys too', () => {
  const web = parsed({ 'lb.host': 'a.test', 'lb.retries': '0', 'lb.timeouts.idle': '5m', 'lb.balancer': 'random' }).services.get('web')!.config;
  assert.deepEqual([web.retry.attempts, web.timeouts.idleMs, web.balancer], [0, 300_000, 'random']);
});

test('aliases: pathPrefix beside path, healthCheck beside healthcheck, lb.services beside lb.http.services, and keys in any case', () => {
  const config = parsed({
    'lb.http.routers.r.pathPrefix': '/v2',
    'lb.HTTP.Routers.s.HOST': 's.test',
    'lb.http.routers.s.service': 'r',
    'lb.Services.r.Port': '81',
    'lb.services.r.healthCheck.path': '/h',
    'lb.services.r.HealthCheck.Rise': '4',
  });
  assert.equal(config.routers.find((r) => r.config.name === 'r')!.config.match.pathPrefix, '/v2');
  assert.deepEqual(config.routers.find((r) => r.config.name === 's')!.config.match.hosts, ['s.test']);
  const r = config.services.get('r')!;
  assert.equal(r.server.port, 81);
  assert.deepEqual([r.config.healthCheck!.path, r.config.healthCheck!.rise], ['/h', 4]);
});

test('labels follow the lb.yaml rules: a trailing dot in a host, and a check timeout against the default interval', () => {
  assert.deepEqual(parsed({ 'lb.host': 'app.example.com.' }).routers[0]!.config.match.hosts, ['app.example.com']);
  assert.deepEqual(errorsOf({ 'lb.healthcheck.path': '/h', 'lb.healthcheck.timeout': '10s' }), {
    'lb.healthcheck.timeout': 'the timeout (10000ms) must be shorter than the interval (5000ms)',
  });
});

test('a router without a service uses the only service of the container', () => {
  const config = parsed({ 'lb.http.routers.r.host': 'r.example.com', 'lb.services.api.port': '9000' });
  assert.equal(config.routers[0]!.config.service, 'api');
});

test('every bad label is reported at once, with a suggestion, and the container is left out', () => {
  const byLabel = errorsOf({
    'lb.hots': 'x.example.com',
    'lb.port': '99999',
    'lb.http.routers.r.hots': 'x',
    'lb.http.routres.r.host': 'x',
    'lb.services.s.balancer': 'round-robin',
    'lb.services.s.healthcheck.intervl': '5s',
    'lb.scheme': 'htp',
    'lb.services.s.retries': 'many',
    'lb.services.s.timeouts.connect': '5',
  });
  assert.equal(byLabel['lb.hots'], 'unknown key "hots" (did you mean "host"?)');
  assert.equal(byLabel['lb.http.routers.r.hots'], 'unknown key "hots" (did you mean "host"?)');
  assert.match(byLabel['lb.http.routres.r.host']!, /expected lb\.http\.routers\.NAME\.KEY \("routres" \(did you mean "routers"\?\)\)/);
  assert.equal(byLabel['lb.services.s.healthcheck.intervl'], 'unknown key "intervl" (did you mean "interval"?)');
  // Values are checked by the validators of lb.yaml, beside the unknown keys.
  assert.equal(byLabel['lb.port'], 'must be between 1 and 65535, got 99999');
  assert.match(byLabel['lb.scheme']!, /did you mean "http"\?/);
  assert.match(byLabel['lb.services.s.balancer']!, /did you mean "round_robin"\?/);
  assert.equal(byLabel['lb.services.s.retries'], 'expected a whole number, got "many"');
  assert.equal(byLabel['lb.services.s.timeouts.connect'], 'expected a duration like 500ms, 5s or 1m, got "5"');
});

test('a TCP router may match only sni, and a service cannot be both http and tcp', () => {
  assert.match(errorsOf({ 'lb.tcp.routers.db.host': 'x.test', 'lb.services.db.port': '5432' })['lb.tcp.routers.db.host']!, /TCP router sees no HTTP request; it matches only "sni"/);
  assert.match(errorsOf({ 'lb.tcp.routers.db.service': 'db', 'lb.http.services.db.port': '5432' })['lb.tcp.routers.db.service']!, /http service/);
  assert.match(errorsOf({ 'lb.tcp.routers.db.service': 'db', 'lb.services.db.balancer': 'sticky' })['lb.services.db.balancer']!, /TCP service cannot use sticky cookies/);
  // The short form's service, taken by a TCP router, with sticky chosen by the cookie label alone (found by the labels fuzz target).
  assert.match(errorsOf({ 'lb.tcp.routers.db.entrypoint': 'pg', 'lb.sticky.cookie': 'srv' })['lb.sticky.cookie']!, /TCP service cannot use sticky cookies/);
  assert.equal(errorsOf({ 'lb.http.services.a': '3' })['lb.http.services.a'], 'expected lb.http.services.NAME.KEY');
});

test('the short form and lb.services.<its name> add up, and problems are reported at the label that caused them', () => {
  const web = parsed({ 'lb.host': 'a.test', 'lb.healthcheck.path': '/h', 'lb.services.web.healthcheck.interval': '1s', 'lb.services.web.retries': '2' }).services.get('web')!.config;
  assert.deepEqual([web.healthCheck!.path, web.healthCheck!.intervalMs, web.retry.attempts], ['/h', 1000, 2]);
  assert.deepEqual(errorsOf({ 'lb.host': 'a.test', 'lb.healthcheck.timeout': '10s', 'lb.services.web.healthcheck.path': '/h' }), { 'lb.healthcheck.timeout': 'the timeout (10000ms) must be shorter than the interval (5000ms)' });
  assert.deepEqual(errorsOf({ 'lb.entrypoint': 'web' }), { 'lb.entrypoint': 'lb.headers, lb.entrypoint, lb.priority, lb.tls and lb.middlewares need lb.host or lb.path' });
  assert.deepEqual(errorsOf({ 'lb.headers': 'X-A=1' }), { 'lb.headers': 'lb.headers, lb.entrypoint, lb.priority, lb.tls and lb.middlewares need lb.host or lb.path' });
});

test('one key written in two cases is an error, and a map may be written one label per entry', () => {
  const both = errorsOf({ 'lb.port': '80', 'lb.PORT': '81' });
  assert.match(Object.values(both)[0]!, /sets the same key as lb\.(port|PORT)/);
  const config = parsed({ 'lb.http.routers.r.host': 'r.test', 'lb.http.routers.r.headers.X-A': '1', 'lb.http.routers.r.headers.X-B': '2', 'lb.services.r.port': '80' });
  assert.deepEqual(config.routers[0]!.config.match.headers, [['x-a', '1'], ['x-b', '2']]);
});

test('exposedByDefault and lb.enable decide whether a container is considered', () => {
  assert.equal(parseLabels({ 'lb.port': '80' }, compose).enabled, false);
  assert.equal(parseLabels({ 'lb.port': '80' }, { ...compose, exposedByDefault: true }).enabled, true);
  assert.equal(parseLabels({ 'lb.enable': 'false', 'lb.port': '80' }, { ...compose, exposedByDefault: true }).enabled, false);
  assert.equal(parseLabels({ 'lb.enable': 'yes' }, compose).errors[0]!.message, 'expected true or false, got "yes"');
  assert.equal(parseLabels({ 'other.label': 'x' }, { ...compose, exposedByDefault: true }).enabled, false);
});

test('names come from the compose service, else the container name', () => {
  assert.equal(defaultName('/proj-web-1', 'web'), 'web');
  assert.equal(defaultName('/my_container', undefined), 'my_container');
});

test('proxyProtocol is a service key, so lb.tcp.services.<s>.proxyProtocol and lb.http.services.<s>.proxyProtocol set it', () => {
  const config = parsed({
    'lb.tcp.routers.db.entrypoint': 'pg',
    'lb.tcp.routers.db.service': 'pg',
    'lb.tcp.services.pg.port': '5432',
    'lb.tcp.services.pg.proxyProtocol': 'v2',
    'lb.http.routers.site.host': 'site.example.com',
    'lb.http.routers.site.service': 'site',
    'lb.http.services.site.port': '3000',
    'lb.http.services.site.proxyProtocol': 'v1',
  });
  assert.equal(config.services.get('pg')!.config.proxyProtocol, 'v2');
  assert.equal(config.services.get('site')!.config.proxyProtocol, 'v1');
  assert.match(errorsOf({ 'lb.port': '80', 'lb.proxyProtocol': 'v3' })['lb.proxyProtocol']!, /v1, v2|"v1"/);
});
