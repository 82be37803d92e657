// Certificates change without a restart: a file swapped on disk, or a reloaded lb.yaml. Open
// connections keep going on the certificate they started with, new handshakes get the new one,
// and a pair that does not fit is refused where it is named (lb validate, a reload, a file
// change) while the running certificates stay. Runs the built CLI, which watches lb.yaml.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { lbYaml } from './helpers/config.js';
import { cliPath, spawnLb } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';
import { CertificateFolder, requestOn, tlsConnect, tlsRequest, type TestCertificate } from './helpers/tls.js';
import { eventually } from './helpers/wait.js';

/** Puts `c` at `live.pem` / `live.key` in `dir`, by rename, as certificate tools replace files. */
function install(dir: string, c: TestCertificate, which: 'both' | 'cert' | 'key' = 'both'): void {
  if (which !== 'key') {
    copyFileSync(c.certFile, join(dir, 'next.pem'));
    renameSync(join(dir, 'next.pem'), join(dir, 'live.pem'));
  }
  if (which !== 'cert') {
    copyFileSync(c.keyFile, join(dir, 'next.key'));
    renameSync(join(dir, 'next.key'), join(dir, 'live.key'));
  }
}

const config = (dir: string, backendUrl: string, certFile = 'live.pem', keyFile = 'live.key') => lbYaml(`
routers: { all: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backendUrl}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, tls: { certificates: [ { certFile: "${join(dir, certFile)}", keyFile: "${join(dir, keyFile)}" } ] }` } });

test('a certificate swapped on disk serves new handshakes; an open connection keeps going on the old one', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const old = certs.certificate({ names: ['swap.test'], subject: '/CN=old' });
  const fresh = certs.certificate({ type: 'rsa', names: ['swap.test'], subject: '/CN=new' });
  const dir = mkdtempSync(join(tmpdir(), 'lb-live-'));
  install(dir, old);
  const backend = await namedBackend(t, 'app');
  const lb = await spawnLb(t, config(dir, backend.url));
  const port = lb.port('websecure');

  const open = await tlsConnect({ port, servername: 'swap.test' });
  t.after(() => open.destroy());
  assert.equal(open.getPeerCertificate().subject.CN, 'old');
  assert.deepEqual(await requestOn(open, '/', 'swap.test'), { status: 200, body: 'app' });

  install(dir, fresh);
  await eventually(async () => (await tlsRequest({ port, servername: 'swap.test' })).cn === 'new', 'a new handshake with the new certificate');
  await lb.logged('certificates reloaded: new handshakes use them, open connections keep theirs');
  // The connection opened before the swap carries on, on the certificate it started with.
  assert.deepEqual(await requestOn(open, '/again', 'swap.test'), { status: 200, body: 'app' });
  assert.equal(open.getPeerCertificate().subject.CN, 'old');
});

test('a key file that no longer fits its certificate is logged, and the running certificate stays', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const good = certs.certificate({ names: ['pair.test'], subject: '/CN=good' });
  const other = certs.certificate({ names: ['pair.test'], subject: '/CN=other' });
  const dir = mkdtempSync(join(tmpdir(), 'lb-live-'));
  install(dir, good);
  const backend = await namedBackend(t, 'app');
  const lb = await spawnLb(t, config(dir, backend.url));
  const port = lb.port('websecure');

  install(dir, other, 'key');
  const failed = await lb.logged('certificate reload failed, the running certificates stay: the private key in ' + join(dir, 'live.key') + ' does not belong to this certificate (their public keys differ)');
  assert.equal(failed.file, join(dir, 'live.pem'));
  assert.equal(failed.key, 'entrypoints.websecure.tls.certificates[0].certFile');
  assert.equal(failed.code, 'LB_TLS_CERTIFICATE');
  const res = await tlsRequest({ port, servername: 'pair.test' });
  assert.equal(res.cn, 'good');
  assert.equal(res.body, 'app');

  // The matching certificate arrives: the pair fits again and is served.
  install(dir, other, 'cert');
  await eventually(async () => (await tlsRequest({ port, servername: 'pair.test' })).cn === 'other', 'the new pair');
});

test('lb.yaml reloads: a new certificate file is served; one that does not fit its key is rejected with its file and line', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const first = certs.certificate({ names: ['reload.test'], subject: '/CN=first' });
  const second = certs.certificate({ type: 'rsa', names: ['reload.test'], subject: '/CN=second' });
  const backend = await namedBackend(t, 'app');
  const yaml = (c: TestCertificate, keyFile = c.keyFile) => lbYaml(`
routers: { all: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, tls: { certificates: [ { certFile: "${c.certFile}", keyFile: "${keyFile}" } ] }` } });
  const lb = await spawnLb(t, yaml(first));
  const port = lb.port('websecure');
  const open = await tlsConnect({ port, servername: 'reload.test' });
  t.after(() => open.destroy());

  writeFileSync(lb.configPath, yaml(second, first.keyFile));
  const rejected = await eventually(() => lb.logs.find((l) => String(l.msg).startsWith('reload rejected')), 'the rejected reload');
  // Line 2 of the file, at the certFile value.
  const where = `${lb.configPath}:2:${readFileSync(lb.configPath, 'utf8').split('\n')[1]!.indexOf(`"${second.certFile}"`) + 1}`;
  assert.equal(rejected.msg, `reload rejected, keeping the running configuration: ${where}: entrypoints.websecure.tls.certificates[0].certFile: ${second.certFile}: the private key in ${first.keyFile} does not belong to this certificate (their public keys differ)`);
  assert.equal((await tlsRequest({ port, servername: 'reload.test' })).cn, 'first');

  writeFileSync(lb.configPath, yaml(second));
  await lb.logged('configuration reloaded');
  assert.equal((await tlsRequest({ port, servername: 'reload.test' })).cn, 'second');
  assert.deepEqual(await requestOn(open, '/', 'reload.test'), { status: 200, body: 'app' }, 'the connection made before the reload carries on');
});

test('lb validate names the file and the lb.yaml line of a missing or mismatched certificate or key', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const a = certs.certificate({ names: ['a.test'] });
  const b = certs.certificate({ names: ['b.test'] });
  const file = join(mkdtempSync(join(tmpdir(), 'lb-validate-')), 'lb.yaml');
  writeFileSync(file, `entrypoints:
  websecure:
    address: "127.0.0.1:0"
    protocol: https
    tls:
      certificates:
        - { certFile: "${a.certFile}", keyFile: "${b.keyFile}" }
        - { certFile: "${b.certFile}", keyFile: "missing.key" }
      clientAuth: { caFiles: "${a.keyFile}" }
`);
  const result = await promisify(execFile)(process.execPath, [cliPath, 'validate', '--config', file]).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 1);
  const lines = result.stderr.split('\n');
  assert.ok(lines.includes(`${file}:7:23: entrypoints.websecure.tls.certificates[0].certFile: ${a.certFile}: the private key in ${b.keyFile} does not belong to this certificate (their public keys differ)`), result.stderr);
  assert.ok(lines.includes(`${file}:8:${36 + b.certFile.length}: entrypoints.websecure.tls.certificates[1].keyFile: ${join(file, '..', 'missing.key')}: cannot read the file (no such file)`), result.stderr);
  assert.ok(lines.includes(`${file}:9:30: entrypoints.websecure.tls.clientAuth.caFiles[0]: ${a.keyFile}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)`), result.stderr);
});

test('with workers: 2 a swapped certificate reaches every worker: the primary pushes it', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const dir = mkdtempSync(join(tmpdir(), 'lb-live-'));
  install(dir, certs.certificate({ names: ['swap.test'], subject: '/CN=old' }));
  const backend = await namedBackend(t, 'app');
  const lb = await spawnLb(t, `workers: 2\n${config(dir, backend.url)}`);
  const port = lb.port('websecure');
  assert.equal((await tlsRequest({ port, servername: 'swap.test' })).cn, 'old');
  install(dir, certs.certificate({ names: ['swap.test'], subject: '/CN=new' }));
  await lb.logged('certificates reloaded: new handshakes use them, open connections keep theirs');
  await eventually(async () => {
    const seen = await Promise.all(Array.from({ length: 16 }, () => tlsRequest({ port, servername: 'swap.test' }).then((r) => r.cn)));
    return seen.every((cn) => cn === 'new');
  }, 'every worker to serve the new certificate');
});
