// ipAllowList judges the client address: behind a trusted proxy the X-Forwarded-For entry that
// ipStrategy.depth picks (or the nearest untrusted one), from any other peer the peer itself (an
// X-Forwarded-For it sends is ignored), and the PROXY protocol's address. Others get 403.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { parseResponse, requestPaths, send } from './helpers/middleware.js';
import { rawRequest } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

test('ipAllowList behind a trusted proxy, an untrusted one, and the PROXY protocol', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('inside'));
  const lb = await startLb(t, lbYaml(`
middlewares:
  office: { ipAllowList: { sourceRange: [10.0.0.0/8, "2001:db8::/32"] } }
  second-hop: { ipAllowList: { sourceRange: [10.0.0.0/8], ipStrategy: { depth: 2 } } }
routers:
  nearest: { entrypoint: web, service: svc, match: { host: n.test }, middlewares: [office] }
  depth: { entrypoint: web, service: svc, match: { host: d.test }, middlewares: [second-hop] }
  pp: { entrypoint: pp, service: svc, middlewares: [office] }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'trustedProxies: ["127.0.0.1/32", "172.16.0.0/12"]', entrypoints: { pp: 'proxyProtocol: { trustedIPs: ["127.0.0.0/8"] }' } }));
  const port = lb.port('web');
  for (const path of requestPaths) {
    const status = async (host: string, xff?: string) => (await send(port, path, '/', { host, headers: xff ? [`X-Forwarded-For: ${xff}`] : [] })).status;
    // The peer, 127.0.0.1, is a trusted proxy.
    assert.equal(await status('n.test', '10.1.2.3'), 200, `${path}: the client behind the trusted proxy is in range`);
    assert.equal(await status('n.test', '2001:db8::7'), 200, path);
    assert.equal(await status('n.test', '192.0.2.1'), 403, path);
    assert.equal(await status('n.test', '10.1.2.3, 172.16.0.9'), 200, `${path}: trusted proxies in the chain are skipped`);
    assert.equal(await status('n.test', '10.1.2.3, 192.0.2.1'), 403, `${path}: the nearest untrusted address decides, not the first`);
    assert.equal(await status('n.test'), 403, `${path}: no header: the proxy itself, outside the range`);
    assert.equal(await status('d.test', '10.1.2.3, 192.0.2.1'), 200, `${path}: depth 2 is the second from the right`);
    assert.equal(await status('d.test', '192.0.2.1, 10.1.2.3'), 403, path);
    assert.equal(await status('d.test', '10.1.2.3'), 403, `${path}: too few entries for the depth`);
  }
  // 127.0.0.2 is not a trusted proxy: its X-Forwarded-For is its own word.
  const untrusted = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: n.test\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n', 5_000, '127.0.0.2');
  const refused = parseResponse(untrusted.text);
  assert.equal(refused.status, 403);
  assert.match(refused.body, /127\.0\.0\.2/);
  const proxied = (source: string) => rawRequest(lb.port('pp'), `PROXY TCP4 ${source} 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 5_000);
  assert.equal(parseResponse((await proxied('10.9.9.9')).text).status, 200, 'the PROXY header\'s client address is judged');
  assert.equal(parseResponse((await proxied('192.0.2.9')).text).status, 403);
});
