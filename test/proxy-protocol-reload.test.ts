import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { writeProxyHeader } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

test('a reload turns proxyProtocol on and off for the next connections of the same listener', async (t) => {
  const backend = await startBackend(t, (req, res) => res.end(`xff=${req.headers['x-forwarded-for']}`));
  const yaml = (web: string) => lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web });
  const lb = await startLb(t, yaml(''));
  const port = lb.port('web');
  const get = 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n';
  const proxied = Buffer.concat([writeProxyHeader('v1', { source: { address: '192.0.2.7', port: 1234 }, destination: { address: '127.0.0.1', port } }), Buffer.from(get)]);
  assert.equal(statusOf((await rawRequest(port, proxied)).text), 400, 'without proxyProtocol, a header is a malformed request');
  await lb.reload(parseConfig(yaml('proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }'), 'test.yaml'));
  assert.equal(lb.port('web'), port, 'the listener stayed');
  assert.match((await rawRequest(port, proxied)).text, /^HTTP\/1\.1 200[\s\S]*xff=192\.0\.2\.7$/);
  assert.equal((await rawRequest(port, get)).text, '', 'the trusted source must now send the header');
  await lb.reload(parseConfig(yaml(''), 'test.yaml'));
  assert.match((await rawRequest(port, get)).text, /^HTTP\/1\.1 200[\s\S]*xff=127\.0\.0\.1$/);
});
