// Where ACME http-01 answers go: the data plane's pending challenges are asked first for
// `/.well-known/acme-challenge/<token>` on http entrypoints, before a redirect and before routing;
// a token they do not hold goes on as any request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { ControlLoop } from '../src/control/control-loop.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { DataPlane } from '../src/proxy/data-plane.js';
import { FileProvider } from '../src/providers/file.js';
import { CertificateStore } from '../src/tls/certificate-store.js';
import { lbYaml } from './helpers/config.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { namedBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry } from './helpers/tls.js';

test('http-01 challenges are answered before the redirect; unknown tokens are redirected like any request', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const cert = new CertificateFolder(t).certificate({ names: ['site.test'] });
  const backend = await namedBackend(t, 'app');
  const config = parseConfig(lbYaml(`
routers:
  app: { entrypoint: websecure, service: app }
  open: { entrypoint: plain, service: app }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
acme: { le: { directory: "https://127.0.0.1:9/dir", storage: "${new CertificateFolder(t).dir}/acme" } }
`, { web: 'redirect: { to: websecure }', entrypoints: { plain: '', websecure: `protocol: https, tls: { certificates: [ ${certEntry(cert)} ] }` } }), 'test.yaml');
  const logger = createLogger('silent');
  const metrics = new Metrics();
  const control = new ControlLoop(config.entrypoints, logger, metrics);
  await control.startProvider(new FileProvider(config));
  const certificates = new CertificateStore(logger);
  certificates.load(config.entrypoints);
  const plane = new DataPlane(config, control, metrics, logger, certificates);
  await plane.start();
  t.after(async () => {
    await plane.stop(0);
    certificates.stop();
    control.stop();
  });
  const get = (entrypoint: string, path: string) => rawRequest(plane.addresses[entrypoint]!.port, `GET ${path} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n`);

  assert.equal(statusOf((await get('web', '/.well-known/acme-challenge/tok')).text), 308, 'no pending challenge: the redirect');
  await plane.setChallenges({ http01: [['tok', 'tok.thumbprint']], tlsAlpn01: [] });
  const answered = await get('web', '/.well-known/acme-challenge/tok');
  assert.equal(statusOf(answered.text), 200);
  assert.match(answered.text, /\r\n\r\ntok\.thumbprint$/);
  assert.equal(statusOf((await get('web', '/.well-known/acme-challenge/other?x=1')).text), 308, 'a token it does not know');
  assert.equal(statusOf((await get('web', '/elsewhere')).text), 308);
  const routed = await get('plain', '/.well-known/acme-challenge/other');
  assert.equal(statusOf(routed.text), 200);
  assert.match(routed.text, /\r\n\r\napp$/, 'on an entrypoint without a redirect, an unknown token is routed');
});
