// `services.<s>.tls` for https:// servers: a private CA (caFile, read at load), the name to
// verify (serverName) and insecureSkipVerify. Requests, WebSocket upgrades and active health
// checks use the same settings, so a server whose certificate lb refuses is down, never healthy
// and then a 502.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { ConfigInvalidError } from '../src/errors.js';
import { lbYaml } from './helpers/config.js';
import { startLb, type TestBalancer } from './helpers/lb.js';
import { spawnLb } from './helpers/lb-process.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { makeTestCa, type Issued } from './helpers/test-ca.js';
import { requireTool } from './helpers/tools.js';
import { upgradeRequest } from './helpers/upgrade-request.js';
import { eventually } from './helpers/wait.js';

/** An https server with `certificate`; answers `/health` and `/`, and accepts WebSocket upgrades. */
async function httpsServer(t: TestContext, certificate: Issued): Promise<number> {
  const server: Server = createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => res.end(req.url === '/health' ? 'ok' : 'over verified tls'));
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Service `api` on `url`; `checked`: with an active health check. */
function config(url: string, tls: string, checked = true): string {
  return lbYaml(`
routers: { r: { entrypoint: web, service: api } }
services:
  api:
    retries: 0
    ${tls ? `tls: { ${tls} }` : ''}
    ${checked ? 'healthCheck: { path: /health, interval: 200ms, rise: 1, fall: 1 }' : ''}
    servers: [ { url: "${url}" } ]
`);
}

/** A request through an lb whose service has no health check, so that it reaches the server. */
async function unchecked(t: TestContext, url: string, tls: string): Promise<Response> {
  return fetch((await startLb(t, config(url, tls, false))).url('web'));
}

interface ServerState {
  state: string;
  lastCheck: { ok: boolean; detail: string } | null;
}

async function serverState(lb: TestBalancer): Promise<ServerState> {
  const state = (await (await fetch(`${lb.url('admin')}/api/state`)).json()) as { services: Array<{ name: string; servers: ServerState[] }> };
  return state.services.find((s) => s.name === 'api')!.servers[0]!;
}

async function checked(lb: TestBalancer): Promise<ServerState> {
  return eventually(async () => {
    const server = await serverState(lb);
    return server.lastCheck ? server : undefined;
  }, 'a first health check');
}

test('a server with a certificate from a private CA: without caFile it is down (with the TLS error) and 502; with caFile it is healthy and 200', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const port = await httpsServer(t, ca.issue(['localhost']));
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  assert.equal(env.NODE_EXTRA_CA_CERTS, undefined);

  const untrusting = await startLb(t, config(`https://localhost:${port}`, ''));
  const down = await checked(untrusting);
  assert.equal(down.state, 'down');
  assert.match(down.lastCheck!.detail, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
  assert.equal((await fetch(untrusting.url('web'))).status, 503, 'the server never passed a check, so it takes no request');
  const refused = await unchecked(t, `https://localhost:${port}`, '');
  assert.equal(refused.status, 502, 'the request itself fails the same way');
  assert.equal(refused.headers.get('lb-error'), 'LB_UPSTREAM_REFUSED');

  const trusting = await startLb(t, config(`https://localhost:${port}`, `caFile: "${ca.caFile}"`));
  const up = await eventually(async () => {
    const server = await checked(trusting);
    return server.state === 'up' ? server : undefined;
  }, 'the server is up');
  assert.equal(up.lastCheck!.detail, 'HTTP 200');
  const res = await fetch(trusting.url('web'));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'over verified tls');
  const upgrade = await rawRequest(trusting.port('web'), upgradeRequest('/ws'), 1_000);
  assert.equal(statusOf(upgrade.text), 101, 'a WebSocket upgrade verifies with the same CA');
});

test('serverName: the certificate names a host other than the address lb connects to', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const port = await httpsServer(t, ca.issue(['api.internal']));
  const url = `https://127.0.0.1:${port}`;
  const byAddress = await startLb(t, config(url, `caFile: "${ca.caFile}"`));
  assert.match((await checked(byAddress)).lastCheck!.detail, /ERR_TLS_CERT_ALTNAME_INVALID/, 'the IP address is not in the certificate');
  assert.equal((await unchecked(t, url, `caFile: "${ca.caFile}"`)).status, 502);

  const byName = await startLb(t, config(url, `caFile: "${ca.caFile}", serverName: api.internal`));
  await eventually(async () => (await checked(byName)).state === 'up', 'the server is up');
  assert.equal((await fetch(byName.url('web'))).status, 200);
});

test('insecureSkipVerify: true serves a server lb cannot verify, with one warning at load', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const port = await httpsServer(t, ca.issue(['localhost']));
  const lb = await spawnLb(t, config(`https://127.0.0.1:${port}`, 'insecureSkipVerify: true'));
  const warnings = lb.logs.filter((line) => /insecureSkipVerify/.test(String(line.msg)));
  assert.equal(warnings.length, 1, JSON.stringify(lb.logs));
  assert.match(String(warnings[0]!.msg), /lb\.yaml:\d+:\d+: services\.api\.tls\.insecureSkipVerify: .*not verified/);
  await eventually(async () => (await fetch(`http://127.0.0.1:${lb.port('web')}`)).status === 200, 'a request is served');
});

test('an unreadable or non-PEM caFile is a config error naming the file and the lb.yaml line', (t) => {
  const ca = makeTestCa(t);
  const notPem = join(ca.caFile, '..', 'not-a-ca.pem');
  writeFileSync(notPem, 'hello');
  const yaml = (file: string) => config('https://127.0.0.1:8443', `caFile: "${file}"`);
  const errorOf = (text: string): string => {
    try {
      parseConfig(text, 'lb.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigInvalidError);
      return err.message;
    }
    assert.fail('the config was accepted');
  };
  assert.match(errorOf(yaml('/nonexistent/ca.pem')), /lb\.yaml:8:\d+: services\.api\.tls\.caFile: cannot read CA file \/nonexistent\/ca\.pem: ENOENT/);
  assert.match(errorOf(yaml(notPem)), new RegExp(`lb\\.yaml:8:\\d+: services\\.api\\.tls\\.caFile: CA file ${notPem.replace(/[.]/g, '\\.')} is not usable`));
});
