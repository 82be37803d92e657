// A PROXY header before TLS on an https entrypoint (lb behind an L4 balancer that passes TLS
// through): lb reads the header, then terminates TLS, and the header's address is the client's.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { writeProxyHeader } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry } from './helpers/tls.js';
import { within } from './helpers/wait.js';

test('an https entrypoint with proxyProtocol reads the header, then TLS, and forwards the header\'s client address', { timeout: 30_000 }, async (t) => {
  if (!CertificateFolder.available(t)) return;
  const cert = new CertificateFolder(t).certificate({ names: ['app.test'] });
  const backend = await startBackend(t, (req, res) => res.end(String(req.headers['x-forwarded-for'])));
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, proxyProtocol: { trustedIPs: ["127.0.0.0/8"] }, tls: { certificates: [ ${certEntry(cert)} ] }` } }));
  const raw = connect(lb.port('websecure'), '127.0.0.1');
  t.after(() => raw.destroy());
  await once(raw, 'connect');
  raw.write(writeProxyHeader('v2', { source: { address: '192.0.2.7', port: 40000 }, destination: { address: '127.0.0.1', port: lb.port('websecure') } }));
  const secure = tlsConnect({ socket: raw, servername: 'app.test', rejectUnauthorized: false });
  await within(once(secure, 'secureConnect'), 'the TLS handshake after the PROXY header');
  secure.write('GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  let reply = '';
  secure.on('data', (chunk: Buffer) => (reply += chunk.toString()));
  await within(once(secure, 'end'), 'the response');
  assert.match(reply, /^HTTP\/1\.1 200/);
  assert.match(reply, /\r\n\r\n192\.0\.2\.7$/);
});
