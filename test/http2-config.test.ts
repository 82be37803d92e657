// The http2 keys of entrypoints: HTTP/2 is on by default on https (ALPN), off on http unless
// cleartext asks for h2c, with the default limits; cleartext elsewhere is worth a warning, and
// limits out of range are refused with their key path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { formatConfigIssue } from '../src/errors.js';
import { configErrors } from './helpers/config.js';
import { CertificateFolder } from './helpers/tls.js';

const yaml = (cert: { certFile: string; keyFile: string }, web: string, secure: string) => `
entrypoints:
  web: { address: "127.0.0.1:8080"${web} }
  websecure: { address: "127.0.0.1:8443", protocol: https, tls: { certificates: [ { certFile: "${cert.certFile}", keyFile: "${cert.keyFile}" } ] }${secure} }
  db: { address: "127.0.0.1:5432", protocol: tcp }
providers: { docker: { enabled: false } }
`;

test('https entrypoints speak HTTP/2 by default with 100 streams and 16 KiB of headers; http ones only with cleartext, tcp ones never', (t) => {
  if (!CertificateFolder.available(t)) return;
  const cert = new CertificateFolder(t).certificate({ names: ['app.test'] });
  const defaults = parseConfig(yaml(cert, '', ''), 'lb.yaml');
  assert.deepEqual(defaults.entrypoints.get('websecure')!.http2, { maxConcurrentStreams: 100, maxHeaderListSize: 16384 });
  assert.equal(defaults.entrypoints.get('web')!.http2, undefined);
  assert.equal(defaults.entrypoints.get('db')!.http2, undefined);
  const set = parseConfig(yaml(cert, ', http2: { cleartext: true, maxConcurrentStreams: 20 }', ', http2: { enabled: false }'), 'lb.yaml');
  assert.deepEqual(set.entrypoints.get('web')!.http2, { maxConcurrentStreams: 20, maxHeaderListSize: 16384 });
  assert.equal(set.entrypoints.get('websecure')!.http2, undefined);
  assert.deepEqual(set.warnings, []);
});

test('cleartext on an https entrypoint is a warning; limits out of range are errors with their key path', (t) => {
  if (!CertificateFolder.available(t)) return;
  const cert = new CertificateFolder(t).certificate({ names: ['app.test'] });
  const warned = parseConfig(yaml(cert, '', ', http2: { cleartext: true }'), 'lb.yaml');
  assert.equal(warned.warnings.length, 1);
  assert.match(formatConfigIssue(warned.warnings[0]!), /^lb\.yaml:4:\d+: entrypoints\.websecure\.http2\.cleartext: cleartext HTTP\/2 \(h2c\) applies to http entrypoints; this one is https, where clients negotiate h2 by ALPN$/);
  assert.ok(warned.entrypoints.get('websecure')!.http2, 'HTTP/2 stays on by ALPN');
  const errors = configErrors(yaml(cert, ', http2: { cleartext: true, maxConcurrentStreams: 0, maxHeaderListSize: 10 }', ''));
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors[0]!, /entrypoints\.web\.http2\.maxConcurrentStreams/);
  assert.match(errors[1]!, /entrypoints\.web\.http2\.maxHeaderListSize/);
});
