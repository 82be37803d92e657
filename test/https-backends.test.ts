// Servers reached over TLS (`url: https://...`): certificates are verified as Node verifies them
// (NODE_EXTRA_CA_CERTS adds a CA), and a handshake lb refuses is a 502 that names the reason.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { spawnLb } from './helpers/lb-process.js';
import { requireTool } from './helpers/tools.js';

async function tlsBackend(t: TestContext): Promise<{ port: number; certFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-tls-'));
  const key = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const server: Server = createServer({ key: readFileSync(key), cert: readFileSync(certFile) }, (req, res) => {
    if (req.url === '/big') return void res.end('x'.repeat(300_000));
    res.end(`over tls, for ${req.headers['x-forwarded-for']}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, certFile };
}

const config = (port: number) => lbYaml(`
routers: { r: { entrypoint: web, service: s } }
services: { s: { retries: 0, servers: [ { url: "https://localhost:${port}" } ] } }
`);

test('an https server whose CA lb trusts is served, keep-alive and large bodies included', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const backend = await tlsBackend(t);
  const lb = await spawnLb(t, config(backend.port), [], { ...process.env, NODE_EXTRA_CA_CERTS: backend.certFile });
  const url = `http://127.0.0.1:${lb.port('web')}`;
  for (let i = 0; i < 3; i++) assert.equal(await (await fetch(url)).text(), 'over tls, for 127.0.0.1');
  assert.equal((await (await fetch(`${url}/big`)).text()).length, 300_000);
});

test('a certificate lb does not trust gives 502 LB_UPSTREAM_REFUSED with the reason', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const backend = await tlsBackend(t);
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  const lb = await spawnLb(t, config(backend.port), [], env);
  const res = await fetch(`http://127.0.0.1:${lb.port('web')}`);
  assert.equal(res.status, 502);
  assert.equal(res.headers.get('lb-error'), 'LB_UPSTREAM_REFUSED');
  assert.match(await res.text(), /DEPTH_ZERO_SELF_SIGNED_CERT/);
});
