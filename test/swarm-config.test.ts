import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { configErrors, lbYaml } from './helpers/config.js';

// providers.swarm in lb.yaml: its defaults, and the settings that cannot go together.

test('providers.swarm defaults: refresh every second, the Docker provider entrypoint rules, no TLS', () => {
  const config = parseConfig(lbYaml('providers: { swarm: { enabled: true } }\n'), 'lb.yaml');
  const swarm = config.providers.swarm;
  assert.equal(swarm.enabled, true);
  assert.equal(swarm.refreshIntervalMs, 1000);
  assert.equal(swarm.labelPrefix, 'lb');
  assert.equal(swarm.entrypoint, 'web');
  assert.equal(swarm.serveStarting, false);
  assert.deepEqual(swarm.networks, []);
  assert.equal(swarm.tls, undefined);
});

test('providers.swarm.tls needs a tcp:// endpoint, and certFile with keyFile', () => {
  const ok = parseConfig(lbYaml('providers: { swarm: { enabled: true, endpoint: "tcp://manager:2376", network: [front, back], tls: { caFile: ca.pem, certFile: cert.pem, keyFile: key.pem } } }\n'), 'lb.yaml');
  assert.deepEqual(ok.providers.swarm.tls, { caFile: 'ca.pem', certFile: 'cert.pem', keyFile: 'key.pem' });
  assert.deepEqual(ok.providers.swarm.networks, ['front', 'back']);
  assert.match(configErrors(lbYaml('providers: { swarm: { enabled: true, tls: { caFile: ca.pem } } }\n')).join('\n'), /providers\.swarm\.tls: tls is for a manager's TCP API: set providers\.swarm\.endpoint to tcp:\/\/host:port/);
  assert.match(configErrors(lbYaml('providers: { swarm: { enabled: true, endpoint: "tcp://m:2376", tls: { caFile: ca.pem, certFile: cert.pem } } }\n')).join('\n'), /certFile and keyFile go together/);
  assert.match(configErrors(lbYaml('providers: { swarm: { enabled: true, endpoint: "tcp://m:2376", tls: { certFile: cert.pem } } }\n')).join('\n'), /missing required key "caFile"/);
});

test('providers.swarm: a refreshInterval under 100ms, an unknown entrypoint and a bad endpoint are refused', () => {
  const errors = configErrors(lbYaml('providers: { swarm: { enabled: true, refreshInterval: 10ms, endpoint: "http://x" } }\n')).join('\n');
  assert.match(errors, /providers\.swarm\.refreshInterval: must be at least 100ms, got 10ms/);
  assert.match(configErrors(lbYaml('providers: { swarm: { enabled: true, entrypoint: webb } }\n')).join('\n'), /providers\.swarm\.entrypoint: entrypoint "webb" is not defined/);
  assert.match(errors, /providers\.swarm\.endpoint: expected unix:\/\/\/path\/to\/docker\.sock or tcp:\/\/host:port/);
});

test('with the Swarm provider on, a router of lb.yaml may name a service that service labels will provide', () => {
  const config = parseConfig(lbYaml('routers: { r: { entrypoint: web, service: from-labels } }\nproviders: { swarm: { enabled: true } }\n'), 'lb.yaml');
  assert.ok(config.routers.has('r'));
});
