// The keys of https entrypoints and redirects as lb.yaml writes them, and the checks that span
// keys: an https entrypoint needs a certificate, tls belongs to https, a redirect goes to an https
// entrypoint, and a router's `tls` on an entrypoint that is not https is worth a warning.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { formatConfigIssue } from '../src/errors.js';
import { configErrors as errorsOf } from './helpers/config.js';
import { CertificateFolder, type TestCertificate } from './helpers/tls.js';

const https = (c: TestCertificate, tls = '') => `
entrypoints:
  web: { address: "127.0.0.1:8080", redirect: { to: websecure } }
  websecure:
    address: "127.0.0.1:8443"
    protocol: https
    tls: { certificates: [ { certFile: "${c.certFile}", keyFile: "${c.keyFile}" } ]${tls} }
`;

test('an https entrypoint is normalised with its defaults, its files read relative to lb.yaml', (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const c = certs.certificate({ names: ['a.test'] });
  const config = parseConfig(https(c), 'lb.yaml');
  const ep = config.entrypoints.get('websecure')!;
  assert.equal(ep.protocol, 'https');
  assert.deepEqual(ep.tls, { certificates: [{ certFile: c.certFile, keyFile: c.keyFile }], minVersion: 'TLSv1.2', strictSNI: false });
  assert.equal(ep.timeouts.idleMs, 60_000, 'the idle default of http');
  assert.deepEqual(config.entrypoints.get('web')!.redirect, { to: 'websecure' });
  const relative = parseConfig(https({ ...c, certFile: c.certFile.split('/').pop()!, keyFile: c.keyFile.split('/').pop()! }), `${certs.dir}/lb.yaml`);
  assert.deepEqual(relative.entrypoints.get('websecure')!.tls!.certificates, [{ certFile: c.certFile, keyFile: c.keyFile }]);
});

test('minVersion, strictSNI, hsts and clientAuth', (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const c = certs.certificate({ names: ['a.test'] });
  const ca = certs.ca();
  const tls = parseConfig(https(c, `, minVersion: 1.3, strictSNI: true, hsts: { maxAge: 31536000, includeSubDomains: true }, clientAuth: { caFiles: "${ca.certFile}", forwardSubject: true }`), 'lb.yaml').entrypoints.get('websecure')!.tls!;
  assert.equal(tls.minVersion, 'TLSv1.3', 'an unquoted 1.3 is a number in YAML, and means the same');
  assert.equal(tls.strictSNI, true);
  assert.equal(tls.hsts, 'max-age=31536000; includeSubDomains');
  assert.deepEqual(tls.clientAuth, { caFiles: [ca.certFile], mode: 'require', forwardSubject: true });
  const hours = parseConfig(https(c, ', hsts: { maxAge: 8760h }'), 'lb.yaml').entrypoints.get('websecure')!.tls!;
  assert.equal(hours.hsts, 'max-age=31536000');
  const warned = parseConfig(https(c, `, clientAuth: { caFiles: ["${ca.certFile}"], mode: verifyIfGiven }`), 'lb.yaml');
  assert.equal(warned.entrypoints.get('websecure')!.tls!.clientAuth!.mode, 'verify_if_given');
  assert.match(formatConfigIssue(warned.warnings[0]!), /tls\.clientAuth\.mode: "verifyIfGiven" is deprecated; write "verify_if_given"/);
  assert.match(errorsOf(https(c, ', minVersion: "1.1"'))[0]!, /^lb\.yaml:7:\d+: entrypoints\.websecure\.tls\.minVersion: must be "1\.2" or "1\.3", got "1\.1"$/);
  assert.match(errorsOf(https(c, ', hsts: { includeSubDomains: true }'))[0]!, /entrypoints\.websecure\.tls\.hsts: missing required key "maxAge"/);
  assert.match(errorsOf(https(c, ', clientAuth: { mode: require }'))[0]!, /entrypoints\.websecure\.tls\.clientAuth: missing required key "caFiles"/);
});

test('the checks that span keys', (t) => {
  if (!CertificateFolder.available(t)) return;
  const c = new CertificateFolder(t).certificate({ names: ['a.test'] });
  const entry = `{ certFile: "${c.certFile}", keyFile: "${c.keyFile}" }`;
  assert.deepEqual(errorsOf('entrypoints: { s: { address: ":8443", protocol: https } }'), ['lb.yaml:1:49: entrypoints.s.protocol: an https entrypoint needs tls.certificates: [ { certFile, keyFile } ], or tls.acme: <resolver>']);
  assert.deepEqual(errorsOf('entrypoints: { s: { address: ":8443", protocol: https, tls: { certificates: [] } } }'), ['lb.yaml:1:77: entrypoints.s.tls.certificates: an https entrypoint needs at least one certificate: [ { certFile, keyFile } ], or tls.acme: <resolver>']);
  assert.deepEqual(errorsOf(`entrypoints: { web: { address: ":8080", tls: { certificates: [ ${entry} ] } } }`), ['lb.yaml:1:41: entrypoints.web.tls: tls applies to https entrypoints, and to tcp entrypoints whose routers terminate TLS; this one is http (set protocol: https)']);
  assert.deepEqual(errorsOf('entrypoints: { web: { address: ":8080", redirect: { to: websecur } }, api: { address: ":8081" } }'), ['lb.yaml:1:57: entrypoints.web.redirect.to: entrypoint "websecur" is not defined']);
  assert.deepEqual(errorsOf('entrypoints: { web: { address: ":8080", redirect: { to: api } }, api: { address: ":8081" } }'), ['lb.yaml:1:57: entrypoints.web.redirect.to: entrypoint "api" is http; a redirect goes to an https entrypoint']);
  assert.deepEqual(errorsOf(`entrypoints: { s: { address: ":8443", protocol: https, redirect: { to: s }, tls: { certificates: [ ${entry} ] } } }`), ['lb.yaml:1:56: entrypoints.s.redirect: redirect applies to http entrypoints; this one is https']);
  assert.match(errorsOf(`entrypoints: { web: { address: ":8080", redirect: { to: s } }, s: { address: ":8443", protocol: https, tls: { certificates: [ ${entry} ] } } }\nproviders: { docker: { tlsEntrypoint: web } }`)[0]!, /providers\.docker\.tlsEntrypoint: entrypoint "web" is http; label routers with tls=true need an https entrypoint/);

  const config = parseConfig(`entrypoints:
  web: { address: ":8080", redirect: { to: websecure } }
  websecure: { address: ":8443", protocol: https, tls: { certificates: [ ${entry} ] } }
  plain: { address: ":8081" }
routers:
  old: { entrypoint: web, service: s }
  wrong: { entrypoint: plain, service: s, tls: true }
  right: { entrypoint: websecure, service: s, tls: true }
services: { s: { servers: [ { url: "http://127.0.0.1:1" } ] } }
providers: { docker: { enabled: false } }
`, 'lb.yaml');
  assert.deepEqual(config.warnings.map(formatConfigIssue), [
    'lb.yaml:6:22: routers.old.entrypoint: entrypoint "web" redirects every request to "websecure", so this router is never used',
    'lb.yaml:7:48: routers.wrong.tls: entrypoint "plain" is http, so this router is not served over TLS; tls: true only picks the entrypoint of label routers that name none',
  ]);
  assert.equal(config.services.get('s')!.protocol, 'http', 'a service behind an https entrypoint speaks http');
  assert.equal(config.providers.docker.tlsEntrypoint, 'websecure', 'websecure is the default tlsEntrypoint when it is https');
  assert.equal(config.providers.docker.entrypoint, 'web');
});
