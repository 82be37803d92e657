// Labels for this router and service keys: `lb.tcp.routers.<r>.sni` (a shortcut for
// match.sni) and `lb.http.services.<s>.tls.*`, which labels reach because the keys are in the
// service schema; the CA file is read as lb.yaml's is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLabels } from '../src/providers/docker/labels.js';
import { makeTestCa } from './helpers/test-ca.js';
import { requireTool } from './helpers/tools.js';

const options = { prefix: 'lb', exposedByDefault: false, name: 'web', composeService: 'web' };

test('lb.tcp.routers.<r>.sni names the server names of a TCP router', () => {
  const result = parseLabels({ 'lb.enable': 'true', 'lb.tcp.routers.db.sni': 'DB.example.com, *.db.example.com', 'lb.tcp.routers.db.entrypoint': 'tls', 'lb.services.db.port': '5432' }, options);
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.config!.routers[0]!.config.match.sni, ['db.example.com', '*.db.example.com']);
  assert.equal(result.config!.services.get('db')!.protocol, 'tcp');
});

test('sni on an HTTP router, or host on a TCP router, is an error at its label', () => {
  const http = parseLabels({ 'lb.enable': 'true', 'lb.http.routers.site.sni': 'a.example.com', 'lb.services.site.port': '80' }, options);
  assert.match(http.errors.find((e) => e.label === 'lb.http.routers.site.sni')?.message ?? '', /an HTTP router matches "host"/);
  const tcp = parseLabels({ 'lb.enable': 'true', 'lb.tcp.routers.db.host': 'a.example.com', 'lb.services.db.port': '5432' }, options);
  assert.match(tcp.errors.find((e) => e.label === 'lb.tcp.routers.db.host')?.message ?? '', /matches only "sni"/);
});

test('lb.http.services.<s>.tls.caFile reads the CA; serverName and insecureSkipVerify are set too, the latter with a warning', (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const result = parseLabels({
    'lb.enable': 'true',
    'lb.http.services.api.port': '8443',
    'lb.http.services.api.scheme': 'https',
    'lb.http.services.api.tls.caFile': ca.caFile,
    'lb.http.services.api.tls.serverName': 'API.internal',
  }, options);
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.config!.services.get('api')!.config.tls, { ca: ca.ca, caFile: ca.caFile, serverName: 'api.internal', insecureSkipVerify: false });

  const missing = parseLabels({ 'lb.enable': 'true', 'lb.http.services.api.port': '8443', 'lb.http.services.api.tls.caFile': '/nonexistent/ca.pem' }, options);
  assert.match(missing.errors.find((e) => e.label === 'lb.http.services.api.tls.caFile')?.message ?? '', /cannot read CA file \/nonexistent\/ca\.pem/);

  const insecure = parseLabels({ 'lb.enable': 'true', 'lb.http.services.api.port': '8443', 'lb.http.services.api.tls.insecureSkipVerify': 'true' }, options);
  assert.deepEqual(insecure.errors, []);
  assert.equal(insecure.config!.services.get('api')!.config.tls.insecureSkipVerify, true);
  assert.match(insecure.warnings.find((w) => w.label === 'lb.http.services.api.tls.insecureSkipVerify')?.message ?? '', /not verified/);
});
