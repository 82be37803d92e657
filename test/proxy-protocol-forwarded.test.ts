import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeProxyHeader } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

test('trustedProxies is decided on the PROXY header\'s address: its X-Forwarded-For is extended only when that address is trusted', async (t) => {
  const backend = await startBackend(t, (req, res) => res.end(`xff=${req.headers['x-forwarded-for']}`));
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }, trustedProxies: ["192.0.2.0/24"]' }));
  const port = lb.port('web');
  const from = async (source: string) => {
    const header = writeProxyHeader('v2', { source: { address: source, port: 1234 }, destination: { address: '127.0.0.1', port } });
    const { text } = await rawRequest(port, Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n')]));
    return text.slice(text.indexOf('\r\n\r\n') + 4);
  };
  assert.equal(await from('192.0.2.7'), 'xff=203.0.113.9, 192.0.2.7', 'a trusted proxy behind the balancer: its chain is kept');
  assert.equal(await from('198.51.100.1'), 'xff=198.51.100.1', 'any other client: its own X-Forwarded-For is replaced');
});
