// The keys of `tls: terminate` as lb.yaml and labels write them: a router's `tls` is true or false
// on HTTP routers and terminate or passthrough on TCP routers; a terminating router needs its tcp
// entrypoint's tls block with certificates; and such a block takes only what a handshake decides.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import type { EntrypointConfig } from '../src/config/types.js';
import { parseLabels, placeRouter } from '../src/providers/docker/labels.js';
import { configErrors as errorsOf } from './helpers/config.js';
import { CertificateFolder, certEntry, type TestCertificate } from './helpers/tls.js';

/** Line 6 is the tcp entrypoint's tls; the router `r` is on line 7 without it. */
const config = (router: string, tls = '', extra = '') => `entrypoints:
  web: { address: "127.0.0.1:8080" }
  tcp:
    address: "127.0.0.1:8443"${extra}
    protocol: tcp${tls ? `\n    tls: ${tls}` : ''}
routers:
  r: ${router}
services:
  s: { servers: [ { address: "127.0.0.1:9000" } ] }
`;

const certificates = (c: TestCertificate, more = '') => `{ certificates: [ ${certEntry(c)} ]${more} }`;

test('a TCP router with tls: terminate is normalised with its tcp entrypoint\'s tls block; passthrough is the default written out', (t) => {
  if (!CertificateFolder.available(t)) return;
  const c = new CertificateFolder(t).certificate({ names: ['a.test'] });
  const parsed = parseConfig(config('{ entrypoint: tcp, service: s, tls: terminate, match: { sni: a.test } }', certificates(c, ', minVersion: 1.3, strictSNI: true')), 'lb.yaml');
  assert.equal(parsed.routers.get('r')!.tls, 'terminate');
  assert.deepEqual(parsed.entrypoints.get('tcp')!.tls, { certificates: [{ certFile: c.certFile, keyFile: c.keyFile }], minVersion: 'TLSv1.3', strictSNI: true });
  const passthrough = parseConfig(config('{ entrypoint: tcp, service: s, tls: passthrough, match: { sni: a.test } }'), 'lb.yaml');
  assert.equal(passthrough.routers.get('r')!.tls, undefined);
  assert.deepEqual(passthrough.warnings, []);
});

test('terminate on an HTTP router, true on a TCP router, and a terminating router without certificates are errors at the router\'s line', (t) => {
  if (!CertificateFolder.available(t)) return;
  const c = new CertificateFolder(t).certificate({ names: ['a.test'] });
  const at = (router: string) => errorsOf(config(router)).map((e) => e.replace(/^lb\.yaml:7:\d+: /, 'lb.yaml:7: '));
  assert.deepEqual(at('{ entrypoint: web, service: s, tls: terminate }'), [
    'lb.yaml:7: routers.r.tls: tls: terminate applies to routers of tcp entrypoints; an HTTP router is served over TLS by an https entrypoint (tls: true picks one for a label router)',
  ]);
  assert.deepEqual(at('{ entrypoint: tcp, service: s, tls: true }'), [
    'lb.yaml:7: routers.r.tls: a TCP router says what it does with TLS: tls: terminate (lb decrypts with the entrypoint\'s certificates) or tls: passthrough (the bytes go on encrypted, the default)',
  ]);
  assert.deepEqual(at('{ entrypoint: tcp, service: s, tls: terminate }'), [
    'lb.yaml:7: routers.r.tls: entrypoint "tcp" has no tls block, and tls: terminate decrypts with its certificates: add entrypoints.tcp.tls.certificates',
  ]);
  assert.deepEqual(at('{ entrypoint: tcp, service: s, tls: yes }'), [
    'lb.yaml:7: routers.r.tls: expected true or false (an HTTP router), or terminate or passthrough (a TCP router), got "yes"',
  ]);
  assert.equal(parseConfig(config('{ entrypoint: tcp, service: s, tls: terminate }', certificates(c)), 'lb.yaml').routers.get('r')!.tls, 'terminate');
});

test('a tcp entrypoint\'s tls takes certificates, minVersion, strictSNI and clientAuth; hsts, forwardSubject and acme are errors that say why', (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const c = certs.certificate({ names: ['a.test'] });
  const ca = certs.ca();
  const router = '{ entrypoint: tcp, service: s, tls: terminate }';
  const tls = parseConfig(config(router, certificates(c, `, clientAuth: { caFiles: "${ca.certFile}", mode: verify_if_given }`)), 'lb.yaml').entrypoints.get('tcp')!.tls!;
  assert.deepEqual(tls.clientAuth, { caFiles: [ca.certFile], mode: 'verify_if_given', forwardSubject: false });
  assert.match(errorsOf(config(router, certificates(c, ', hsts: { maxAge: 60 }')))[0]!, /^lb\.yaml:6:\d+: entrypoints\.tcp\.tls\.hsts: hsts is an HTTP response header; a tcp entrypoint forwards bytes and sends none$/);
  assert.match(errorsOf(config(router, certificates(c, `, clientAuth: { caFiles: "${ca.certFile}", forwardSubject: true }`)))[0]!, /entrypoints\.tcp\.tls\.clientAuth\.forwardSubject: forwardSubject adds an HTTP request header; a tcp entrypoint forwards bytes and adds none$/);
  assert.match(errorsOf(config(router, '{ acme: le }') + 'acme: { le: { directory: "https://acme.test/dir", storage: /tmp/x } }\n')[0]!, /entrypoints\.tcp\.tls\.acme: tls\.acme orders certificates for the hosts of HTTP routers; a tcp entrypoint takes tls\.certificates$/);
  assert.match(errorsOf(config(router, '{ minVersion: 1.2 }'))[0]!, /^lb\.yaml:6:\d+: entrypoints\.tcp\.tls\.certificates: a tcp entrypoint that terminates TLS needs at least one certificate/);
});

const entrypoints = new Map(
  ([['web', 'http', false], ['db', 'tcp', false], ['dbtls', 'tcp', true]] as const).map(([name, protocol, tls]): [string, EntrypointConfig] => [
    name,
    {
      name, protocol, address: { host: '0.0.0.0', port: 0, text: ':0' }, trustedProxies: [], timeouts: { requestHeadersMs: 10_000, requestBodyMs: 60_000, idleMs: 60_000 },
      ...(tls ? { tls: { certificates: [{ certFile: '/c.pem', keyFile: '/c.key' }], minVersion: 'TLSv1.2' as const, strictSNI: false } } : {}),
    },
  ]),
);
const options = { prefix: 'lb', exposedByDefault: false, name: 'app', composeService: 'app' };

test('labels: lb.tcp.routers.<r>.tls=terminate through the same schema, placed only on a tcp entrypoint with certificates', () => {
  const parsed = parseLabels({ 'lb.enable': 'true', 'lb.tcp.routers.pg.entrypoint': 'dbtls', 'lb.tcp.routers.pg.sni': 'pg.test', 'lb.tcp.routers.pg.tls': 'terminate', 'lb.services.pg.port': '5432' }, options);
  assert.deepEqual(parsed.errors, []);
  const [router] = parsed.config!.routers;
  assert.deepEqual(router!.config, { name: 'pg', entrypoint: 'dbtls', service: 'pg', match: { hosts: [], headers: [], sni: ['pg.test'] }, tls: 'terminate' });
  assert.deepEqual(placeRouter(router!, {}, entrypoints), { config: router!.config });
  assert.deepEqual(placeRouter({ ...router!, config: { ...router!.config, entrypoint: 'db' } }, {}, entrypoints).error, {
    label: 'lb.tcp.routers.pg.entrypoint',
    message: 'entrypoint "db" has no tls block, and tls: terminate decrypts with its certificates: add entrypoints.db.tls.certificates',
  });
  const http = parseLabels({ 'lb.enable': 'true', 'lb.http.routers.site.host': 'a.test', 'lb.http.routers.site.tls': 'terminate', 'lb.port': '80' }, options);
  assert.deepEqual(http.errors, [{ label: 'lb.http.routers.site.tls', message: 'tls: terminate applies to routers of tcp entrypoints; an HTTP router is served over TLS by an https entrypoint (tls: true picks one for a label router)' }]);
  const passthrough = parseLabels({ 'lb.enable': 'true', 'lb.tcp.routers.pg.entrypoint': 'db', 'lb.tcp.routers.pg.sni': 'pg.test', 'lb.tcp.routers.pg.tls': 'passthrough', 'lb.services.pg.port': '5432' }, options);
  assert.equal(passthrough.config!.routers[0]!.config.tls, undefined);
});
