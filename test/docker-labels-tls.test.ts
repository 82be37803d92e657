// `lb.tls=true` (short form) and `lb.http.routers.<r>.tls=true` (long form): a label router
// without an entrypoint label goes on providers.docker.tlsEntrypoint (default websecure) instead
// of providers.docker.entrypoint; an entrypoint label wins. The rules are checked on the label
// grammar alone, then once with a real container where a Docker engine answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EntrypointConfig } from '../src/config/types.js';
import { parseLabels, placeRouter, type LabelRouter } from '../src/providers/docker/labels.js';
import { DockerFixture, requireDocker } from './helpers/docker.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { eventually } from './helpers/wait.js';
import { CertificateFolder, certEntry, tlsRequest } from './helpers/tls.js';

const options = { prefix: 'lb', exposedByDefault: false, name: 'app', composeService: 'app' };

function routers(labels: Record<string, string>): LabelRouter[] {
  const result = parseLabels({ 'lb.enable': 'true', ...labels }, options);
  assert.deepEqual(result.errors, []);
  return result.config!.routers;
}

const entrypoints = new Map(
  ([['web', 'http'], ['websecure', 'https'], ['admin2', 'http']] as const).map(([name, protocol]): [string, EntrypointConfig] => [
    name,
    { name, protocol, address: { host: '0.0.0.0', port: 0, text: ':0' }, trustedProxies: [], timeouts: { requestHeadersMs: 10_000, requestBodyMs: 60_000, idleMs: 60_000 } },
  ]),
);
const defaults = { entrypoint: 'web', tlsEntrypoint: 'websecure' };

test('lb.tls=true puts the short-form router on the tls entrypoint; without it, on the default one', () => {
  const [secure] = routers({ 'lb.host': 'app.test', 'lb.tls': 'true', 'lb.port': '8080' });
  assert.equal(secure!.tls, true);
  assert.equal(placeRouter(secure!, defaults, entrypoints).config.entrypoint, 'websecure');
  const [plain] = routers({ 'lb.host': 'app.test', 'lb.port': '8080' });
  assert.equal(plain!.tls, false);
  assert.equal(placeRouter(plain!, defaults, entrypoints).config.entrypoint, 'web');
  const [explicit] = routers({ 'lb.host': 'app.test', 'lb.tls': 'true', 'lb.entrypoint': 'admin2', 'lb.port': '8080' });
  assert.deepEqual(placeRouter(explicit!, defaults, entrypoints), { config: explicit!.config }, 'an entrypoint label wins');
});

test('lb.http.routers.<r>.tls=true does the same for that router', () => {
  const placed = routers({ 'lb.http.routers.secure.host': 'a.test', 'lb.http.routers.secure.tls': 'true', 'lb.http.routers.open.host': 'b.test', 'lb.port': '8080' })
    .map((r) => [r.config.name, placeRouter(r, defaults, entrypoints).config.entrypoint]);
  assert.deepEqual(Object.fromEntries(placed), { secure: 'websecure', open: 'web' });
});

test('label errors: no https entrypoint for tls=true, a value that is not a boolean, tls without a host', () => {
  const [secure] = routers({ 'lb.host': 'app.test', 'lb.tls': 'true', 'lb.port': '8080' });
  assert.deepEqual(placeRouter(secure!, { entrypoint: 'web' }, entrypoints).error, {
    label: 'lb.entrypoint',
    message: 'tls=true, but there is no https entrypoint for it: define entrypoint websecure (protocol: https), set providers.docker.tlsEntrypoint, or set this label',
  });
  const bad = parseLabels({ 'lb.enable': 'true', 'lb.host': 'app.test', 'lb.tls': 'yes' }, options);
  assert.deepEqual(bad.errors, [{ label: 'lb.tls', message: 'expected true or false (an HTTP router), or terminate or passthrough (a TCP router), got "yes"' }]);
  const lonely = parseLabels({ 'lb.enable': 'true', 'lb.tls': 'true' }, options);
  assert.deepEqual(lonely.errors, [{ label: 'lb.tls', message: 'lb.headers, lb.entrypoint, lb.priority, lb.tls and lb.middlewares need lb.host or lb.path' }]);
});

test('a container with lb.tls=true is served on the https entrypoint', { timeout: 90_000 }, async (t) => {
  if (!CertificateFolder.available(t) || !(await requireDocker(t))) return;
  const certs = new CertificateFolder(t);
  const cert = certs.certificate({ names: ['tls.example.com'] });
  const fixture = new DockerFixture(t);
  const lb = await startLb(t, lbYaml(`providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}" } }`, {
    entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(cert)} ] }` },
  }));
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'tls.example.com', tls: 'true', port: '8080' }), env: { NAME: 'secure' } });
  const res = await eventually(async () => {
    const r = await tlsRequest({ port: lb.port('websecure'), servername: 'tls.example.com' });
    return r.status === 200 ? r : undefined;
  }, 'the container over https', 30_000);
  assert.match(res.body, /secure/);
  const plain = await fetch(`${lb.url('web')}/`, { headers: { host: 'tls.example.com' } });
  assert.equal(plain.status, 404, 'not on the http entrypoint');
});
