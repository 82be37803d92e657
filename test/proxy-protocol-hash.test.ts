import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeProxyHeader } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { namedBackend } from './helpers/servers.js';

test('the hash balancer on client_ip hashes the address from the PROXY header, not the balancer\'s in front', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => namedBackend(t, name)));
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { balancer: hash, servers: [ ${backends.map((b) => `{ url: "${b.url}" }`).join(', ')} ] } }
`, { web: 'proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }' }));
  const servedBy = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (let i = 1; i <= 24; i++) {
      const source = `192.0.2.${i}`;
      const header = writeProxyHeader(i % 2 ? 'v1' : 'v2', { source: { address: source, port: 40000 + round }, destination: { address: '127.0.0.1', port: 80 } });
      const { text } = await rawRequest(lb.port('web'), Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n')]), 3_000);
      const name = text.slice(text.indexOf('\r\n\r\n') + 4);
      servedBy.set(source, (servedBy.get(source) ?? new Set()).add(name));
    }
  }
  for (const [source, names] of servedBy) assert.equal(names.size, 1, `${source} always reaches the same server`);
  const used = new Set([...servedBy.values()].flatMap((names) => [...names]));
  assert.ok(used.size >= 2, `24 client addresses spread over the servers (all went to ${[...used].join(', ')})`);
});
