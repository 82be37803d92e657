import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { string, type Problem } from '../src/config/validate.js';
import { ConfigInvalidError, formatConfigIssue } from '../src/errors.js';

function errorsOf(yaml: string): string[] {
  try {
    parseConfig(yaml, 'lb.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${String(err)}`);
    assert.equal(err.code, 'LB_CONFIG_INVALID');
    return err.issues.map(formatConfigIssue);
  }
  assert.fail('config was accepted');
}

const valid = `entrypoints:
  web: { address: "127.0.0.1:8080" }
routers:
  app: { entrypoint: web, match: { host: "app.example.com" }, service: app }
services:
  app:
    servers:
      - url: "http://127.0.0.1:3001"
      - url: "http://127.0.0.1:3002"
`;

test('a valid config is normalised with defaults', () => {
  const config = parseConfig(valid, 'lb.yaml');
  const service = config.services.get('app')!;
  assert.equal(service.balancer, 'round_robin');
  assert.deepEqual(service.servers.map((s) => [s.host, s.port, s.weight]), [['127.0.0.1', 3001, 1], ['127.0.0.1', 3002, 1]]);
  assert.deepEqual(service.timeouts, { connectMs: 5000, responseHeadersMs: 30000, idleMs: 60000 });
  assert.equal(config.entrypoints.get('web')!.timeouts.requestHeadersMs, 10000);
  assert.equal(config.admin.address.text, '127.0.0.1:9090');
});

test('an unknown key names file:line:col, the key path and a suggestion', () => {
  const errors = errorsOf(valid.replace('    servers:', '    balancr: random\n    servers:'));
  assert.deepEqual(errors, ['lb.yaml:7:5: services.app.balancr: unknown key "balancr" (did you mean "balancer"?)']);
});

test('a key that was replaced names its successor', () => {
  const errors = errorsOf(valid.replace('    servers:', '    unsafeOnNewConnection: false\n    servers:'));
  assert.deepEqual(errors, ['lb.yaml:7:5: services.app.unsafeOnNewConnection: unknown key "unsafeOnNewConnection": it was replaced by unsafeReuse (true: never, false: always)']);
});

test('a bad server URL points at services.app.servers[1].url', () => {
  const errors = errorsOf(valid.replace('http://127.0.0.1:3002', 'ftp://nowhere'));
  assert.deepEqual(errors, ['lb.yaml:9:14: services.app.servers[1].url: expected an http://, https://, h2c:// or tcp:// URL, got "ftp://nowhere"']);
});

test('a wrong type is reported with what was found', () => {
  const errors = errorsOf(valid.replace('address: "127.0.0.1:8080"', 'address: 8080'));
  assert.match(errors[0]!, /^lb\.yaml:2:19: entrypoints\.web\.address: expected a string, got number 8080$/);
});

test('a router pointing at a missing service suggests the defined ones', () => {
  const errors = errorsOf(valid.replace('service: app }', 'service: ap }'));
  assert.deepEqual(errors, ['lb.yaml:4:72: routers.app.service: service "ap" is not defined (did you mean "app"?)']);
});

test('two entrypoints on one address are an error', () => {
  const errors = errorsOf(valid.replace('  web: { address: "127.0.0.1:8080" }', '  web: { address: "127.0.0.1:8080" }\n  other: { address: "0.0.0.0:8080" }'));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^lb\.yaml:3:21: entrypoints\.other\.address: address 0\.0\.0\.0:8080 is already used by entrypoints\.web$/);
});

test('an entrypoint on the admin address is an error', () => {
  const errors = errorsOf(valid.replace('127.0.0.1:8080', '127.0.0.1:9090'));
  assert.match(errors[0]!, /entrypoints\.web\.address: address 127\.0\.0\.1:9090 is already used by admin/);
});

test('durations need a unit', () => {
  const errors = errorsOf(valid.replace('    servers:', '    timeouts: { connect: 5 }\n    servers:'));
  assert.deepEqual(errors, ['lb.yaml:7:26: services.app.timeouts.connect: expected a duration like 500ms, 5s or 1m, got number 5; add a unit, for example "5s"']);
});

test('every problem is reported at once, not just the first', () => {
  const errors = errorsOf(valid.replace('    servers:', '    balancer: fastest\n    servers:').replace('web: {', 'web: { protocl: tcp,'));
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.ok(errors.some((e) => e.includes('entrypoints.web.protocl: unknown key "protocl" (did you mean "protocol"?)')));
  assert.ok(errors.some((e) => e.includes('services.app.balancer: must be one of round_robin, least_request, random, hash, sticky, got "fastest"')));
});

test('YAML syntax errors carry their position', () => {
  const errors = errorsOf('entrypoints:\n  web: { address: "x:1"\n');
  assert.match(errors[0]!, /^lb\.yaml:\d+:\d+: /);
});

test('duplicate keys are rejected', () => {
  const errors = errorsOf(valid.replace('services:\n', 'services:\n  app: {}\n'));
  assert.match(errors[0]!, /^lb\.yaml:\d+:\d+: Map keys must be unique/);
});

test('a TCP router that matches host is rejected (it may match only sni)', () => {
  const errors = errorsOf(`entrypoints:
  pg: { address: "127.0.0.1:15432", protocol: tcp }
routers:
  db: { entrypoint: pg, service: pg, match: { host: "x.example.com" } }
services:
  pg: { servers: [ { address: "127.0.0.1:5432" } ] }
`);
  assert.deepEqual(errors, ['lb.yaml:4:47: routers.db.match.host: a TCP router sees no HTTP request; it matches only "sni" (the server name of a TLS ClientHello): remove "host"']);
});

test('a server needs exactly one of url and address', () => {
  const errors = errorsOf(valid.replace('- url: "http://127.0.0.1:3001"', '- { url: "http://127.0.0.1:3001", address: "127.0.0.1:3001" }'));
  assert.match(errors[0]!, /services\.app\.servers\[0\]: give a server either "url"/);
});

test('with Docker on, routers may name services that containers will provide', () => {
  const config = parseConfig(`${valid.replace('service: app }', 'service: from-labels }')}providers:\n  docker: { enabled: true, network: frontend }\n`, 'lb.yaml');
  assert.equal(config.routers.get('app')!.service, 'from-labels');
  assert.deepEqual(config.providers.docker.networks, ['frontend']);
  assert.equal(config.providers.docker.entrypoint, 'web');
  assert.equal(config.providers.docker.labelPrefix, 'lb');
  assert.equal(config.providers.docker.resyncIntervalMs, 30_000);
});

test('a bad Docker endpoint is reported with its expected form', () => {
  const errors = errorsOf(`${valid}providers:\n  docker: { enabled: true, endpoint: "/var/run/docker.sock" }\n`);
  assert.match(errors[0]!, /providers\.docker\.endpoint: expected unix:\/\/\/path\/to\/docker\.sock or tcp:\/\/host:port/);
});

test('workers: auto or a count; workerListen: reuse_port only where Node has it', () => {
  assert.equal(parseConfig(`${valid}workers: auto\n`, 'lb.yaml').workers, availableParallelism());
  assert.equal(parseConfig(`${valid}workers: 3\n`, 'lb.yaml').workers, 3);
  assert.deepEqual(errorsOf(`${valid}workers: many\n`), ['lb.yaml:10:10: workers: expected "auto" or a whole number from 1 to 256, got "many"']);
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const supported = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  if (supported) {
    assert.equal(parseConfig(`${valid}workerListen: reuse_port\n`, 'lb.yaml').workerListen, 'reuse_port');
    const old = parseConfig(`${valid}workerListen: reusePort\n`, 'lb.yaml');
    assert.equal(old.workerListen, 'reuse_port');
    assert.deepEqual(old.warnings.map(formatConfigIssue), ['lb.yaml:10:15: workerListen: "reusePort" is deprecated; write "reuse_port"']);
  } else {
    assert.match(errorsOf(`${valid}workerListen: reuse_port\n`)[0]!, /^lb\.yaml:10:15: workerListen: reuse_port needs Node\.js 22\.12 or later/);
    assert.match(errorsOf(`${valid}workerListen: reusePort\n`)[0]!, /^lb\.yaml:10:15: workerListen: reuse_port needs Node\.js 22\.12 or later/, 'the old spelling is read as the new one');
  }
});

test('a renamed value keeps working, with a warning that names the new spelling', () => {
  const problems: Problem[] = [];
  const kind = string({ oneOf: ['round_robin', 'least_request'], deprecated: { roundRobin: 'round_robin' } });
  assert.equal(kind('roundRobin', ['services', 'app', 'balancer'], problems), 'round_robin');
  assert.deepEqual(problems, [{ path: ['services', 'app', 'balancer'], warning: true, message: '"roundRobin" is deprecated; write "round_robin"' }]);
});

test('a health-check timeout is checked against the default interval too', () => {
  const errors = errorsOf(valid.replace('    servers:', '    healthCheck: { path: /h, timeout: 10s }\n    servers:'));
  assert.deepEqual(errors, ['lb.yaml:7:39: services.app.healthCheck.timeout: the timeout (10000ms) must be shorter than the interval (5000ms)']);
});

test('a host name may end with a dot, and is matched without it', () => {
  const config = parseConfig(valid.replace('"app.example.com"', '"App.Example.com."'), 'lb.yaml');
  assert.deepEqual(config.routers.get('app')!.match.hosts, ['app.example.com']);
});

test('proxyProtocol: trustedIPs are CIDRs and required; a service sends v1 or v2, to https:// servers too', () => {
  const config = parseConfig(`entrypoints:
  web: { address: "127.0.0.1:8080", proxyProtocol: { trustedIPs: ["10.0.0.0/8", "::1"] } }
routers: { app: { entrypoint: web, service: app } }
services: { app: { proxyProtocol: v2, servers: [ { url: "http://127.0.0.1:3001" } ], healthCheck: { path: /health } } }
`, 'lb.yaml');
  assert.deepEqual(config.entrypoints.get('web')!.proxyProtocol, { trustedIPs: ['10.0.0.0/8', '::1'] });
  assert.equal(config.services.get('app')!.proxyProtocol, 'v2');
  assert.equal(config.services.get('app')!.healthCheck!.proxyProtocol, 'v2', 'its checks send a LOCAL header');
  const tls = parseConfig(`entrypoints: { web: { address: "127.0.0.1:8080" } }
routers: { app: { entrypoint: web, service: app } }
services: { app: { proxyProtocol: v1, servers: [ { url: "https://127.0.0.1:3001" } ] } }
`, 'lb.yaml');
  assert.equal(tls.services.get('app')!.proxyProtocol, 'v1', 'the header goes before TLS');
  const errors = errorsOf(`entrypoints:
  web: { address: "127.0.0.1:8080", proxyProtocol: { trustedIPs: ["10.0.0.0/33"] } }
  other: { address: "127.0.0.1:8081", proxyProtocol: {} }
routers: { app: { entrypoint: web, service: app }, two: { entrypoint: other, service: two } }
services:
  app: { proxyProtocol: v3, servers: [ { url: "http://127.0.0.1:3001" } ] }
  two: { servers: [ { url: "http://127.0.0.1:3002" } ] }
`);
  assert.equal(errors.length, 3, errors.join('\n'));
  assert.match(errors[0]!, /entrypoints\.web\.proxyProtocol\.trustedIPs\[0\].*CIDR/);
  assert.match(errors[1]!, /entrypoints\.other\.proxyProtocol.*trustedIPs/);
  assert.match(errors[2]!, /services\.app\.proxyProtocol.*v1/);
});
