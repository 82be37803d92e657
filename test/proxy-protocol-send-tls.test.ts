// `proxyProtocol` on a service with https:// servers: the PROXY header goes first on the TCP
// connection, then TLS with the service's `tls` settings (HAProxy's `server ... send-proxy ssl`).
// The peer is a real HAProxy that reads the header and terminates TLS (`bind ... accept-proxy ssl`),
// in front of a plain HTTP server that answers with what HAProxy saw. Clients connect from
// 127.0.0.2, lb from 127.0.0.1.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { TLSSocket } from 'node:tls';
import { readProxyHeader, type ProxiedAddresses } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { runHaproxy } from './helpers/haproxy.js';
import { startLb } from './helpers/lb.js';
import { rawRequest, statusOf, twoRequests } from './helpers/raw-http.js';
import { closedPort, startBackend, startTcpServer } from './helpers/servers.js';
import { makeTestCa, type Issued } from './helpers/test-ca.js';
import { CertificateFolder } from './helpers/tls.js';
import { requireTool } from './helpers/tools.js';
import { upgradeRequest } from './helpers/upgrade-request.js';
import { eventually } from './helpers/wait.js';

const client = '127.0.0.2';

/**
 * HAProxy accepting the PROXY protocol and then TLS with `certificate`, in front of a plain HTTP
 * server that answers with HAProxy's view of the connection: the source from the header, whether
 * it was TLS, and the SNI. The server also takes WebSocket upgrades and echoes afterwards.
 */
async function acceptProxySsl(t: TestContext, certificate: Issued) {
  const seen: string[] = [];
  const view = (headers: Record<string, string | string[] | undefined>) => `src=${headers['x-src']} ssl=${headers['x-ssl']} sni=${headers['x-sni']}`;
  const backend = await startBackend(t, (req, res) => {
    seen.push(`${req.url} ${view(req.headers)}`);
    res.end(view(req.headers));
  });
  backend.server.on('upgrade', (req, socket: Socket) => {
    seen.push(`${req.url} ${view(req.headers)}`);
    // HAProxy checks the handshake: the accept key must answer the request's.
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${accept}\r\nX-View: ${view(req.headers)}\r\n\r\n`);
    socket.on('data', (chunk: Buffer) => socket.write(`echo ${chunk.toString('latin1')}`));
  });
  const pem = `${certificate.certFile}.haproxy.pem`;
  writeFileSync(pem, certificate.cert + certificate.key);
  const port = await closedPort();
  await runHaproxy(t, [[
    'frontend tls',
    '  mode http',
    '  timeout http-request 5s',
    `  bind 127.0.0.1:${port} accept-proxy ssl crt ${pem}`,
    '  http-request set-header X-Src %[src]:%[src_port]',
    '  http-request set-header X-Ssl %[ssl_fc]',
    '  http-request set-header X-Sni %[ssl_fc_sni]',
    '  default_backend app',
    'backend app',
    '  mode http',
    '  timeout tunnel 10s',
    `  server app 127.0.0.1:${backend.port}`,
  ].join('\n')], [port]);
  return { port, seen };
}

/** lb with service `api` to `https://127.0.0.1:<port>`, sending PROXY `version`, with these `tls` settings (and `more` keys). */
function config(port: number, version: 'v1' | 'v2', tls: string, more = ''): string {
  return lbYaml(`
routers: { r: { entrypoint: web, service: api } }
services:
  api: { retries: 0, proxyProtocol: ${version}, tls: { ${tls} }, ${more} servers: [ { url: "https://127.0.0.1:${port}" } ] }
`);
}

/** One request from the client address, on a connection of its own. */
async function get(port: number, path = '/'): Promise<string> {
  return (await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`, 5_000, client)).text;
}

for (const version of ['v1', 'v2'] as const) {
  test(`proxyProtocol ${version} to an https:// server: HAProxy reads the client's address from the header, then a TLS handshake verified with caFile and serverName`, { timeout: 30_000 }, async (t) => {
    if (!requireTool(t, 'haproxy', 'haproxy') || !CertificateFolder.available(t)) return;
    const ca = makeTestCa(t);
    const haproxy = await acceptProxySsl(t, ca.issue(['api.internal']));
    const lb = await startLb(t, config(haproxy.port, version, `caFile: "${ca.caFile}", serverName: api.internal`));
    const reply = await get(lb.port('web'));
    assert.equal(statusOf(reply), 200, reply);
    assert.match(reply, /\r\n\r\nsrc=127\.0\.0\.2:\d+ ssl=1 sni=api\.internal$/);
  });
}

test('with proxyProtocol, a certificate that caFile does not verify is still refused (502), unless insecureSkipVerify', { timeout: 30_000 }, async (t) => {
  if (!requireTool(t, 'haproxy', 'haproxy') || !CertificateFolder.available(t)) return;
  const ca = makeTestCa(t);
  const selfSigned = new CertificateFolder(t).certificate({ names: ['api.internal'] });
  const haproxy = await acceptProxySsl(t, selfSigned);
  const verifying = await startLb(t, config(haproxy.port, 'v2', `caFile: "${ca.caFile}", serverName: api.internal`));
  const refused = await get(verifying.port('web'));
  assert.equal(statusOf(refused), 502, refused);
  assert.deepEqual(haproxy.seen, [], 'no request reached the server');
  const trusting = await startLb(t, config(haproxy.port, 'v2', 'insecureSkipVerify: true, serverName: api.internal'));
  const served = await get(trusting.port('web'));
  assert.equal(statusOf(served), 200, served);
  assert.match(served, /src=127\.0\.0\.2:\d+ ssl=1 /);
});

test('with proxyProtocol, a WebSocket upgrade to an https:// server sends the client\'s header, then TLS', { timeout: 30_000 }, async (t) => {
  if (!requireTool(t, 'haproxy', 'haproxy') || !CertificateFolder.available(t)) return;
  const ca = makeTestCa(t);
  const haproxy = await acceptProxySsl(t, ca.issue(['api.internal']));
  const lb = await startLb(t, config(haproxy.port, 'v1', `caFile: "${ca.caFile}", serverName: api.internal`));
  const socket = connect({ port: lb.port('web'), host: '127.0.0.1', localAddress: client });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.write(upgradeRequest('/ws'));
  await eventually(() => text.includes('\r\n\r\n'), 'the answer to the upgrade');
  assert.match(text, /^HTTP\/1\.1 101 /, text);
  assert.match(text, new RegExp(`x-view: src=127\\.0\\.0\\.2:${socket.localPort} ssl=1 sni=api\\.internal\\r\\n`, 'i'));
  socket.write('ping');
  await eventually(() => text.endsWith('echo ping'), 'the echo through the tunnel');
});

test('with proxyProtocol, HTTP health checks of an https:// server send a LOCAL header, then TLS with the service\'s settings: the server is healthy', { timeout: 30_000 }, async (t) => {
  if (!requireTool(t, 'haproxy', 'haproxy') || !CertificateFolder.available(t)) return;
  const ca = makeTestCa(t);
  const haproxy = await acceptProxySsl(t, ca.issue(['api.internal']));
  const lb = await startLb(t, config(haproxy.port, 'v2', `caFile: "${ca.caFile}", serverName: api.internal`, 'healthCheck: { path: /health, interval: 200ms, rise: 1 },'));
  // A LOCAL header leaves HAProxy with the connection's own source: lb, from 127.0.0.1.
  await eventually(() => haproxy.seen.some((line) => /^\/health src=127\.0\.0\.1:\d+ ssl=1 sni=api\.internal$/.test(line)), 'a check through HAProxy');
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${lb.url('admin')}/metrics`)).text();
    return /^lb_backend_up\{service="api",[^}]*\} 1$/m.test(text) && text;
  }, 'the server up');
  assert.ok(metrics);
});

/**
 * A server that reads a PROXY header on each connection, then terminates TLS with `certificate`
 * and answers HTTP/1.1 keep-alive requests with the number of its connection and the header's source.
 */
async function headerThenTlsServer(t: TestContext, certificate: Issued) {
  const connections: Array<ProxiedAddresses | undefined> = [];
  const http = createHttpServer((req, res) => {
    const n = numbers.get(req.socket as TLSSocket)!;
    res.end(`connection ${n} from ${connections[n]?.source.address}`);
  });
  const numbers = new WeakMap<TLSSocket, number>();
  const { port } = await startTcpServer(t, (socket) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const header = readProxyHeader(bytes);
      if (header.status === 'incomplete') return;
      socket.off('data', onData);
      if (header.status === 'invalid') return void socket.destroy();
      socket.pause();
      socket.unshift(bytes.subarray(header.length));
      const secure = new TLSSocket(socket, { isServer: true, key: certificate.key, cert: certificate.cert });
      secure.on('error', () => secure.destroy());
      numbers.set(secure, connections.push(header.addresses) - 1);
      http.emit('connection', secure);
    };
    socket.on('data', onData);
  });
  t.after(() => http.closeAllConnections());
  return { port, connections };
}

test('with proxyProtocol to an https:// server, a client connection\'s requests reuse its own TLS connection, never another client\'s', { timeout: 30_000 }, async (t) => {
  if (!CertificateFolder.available(t)) return;
  const ca = makeTestCa(t);
  const server = await headerThenTlsServer(t, ca.issue(['api.internal']));
  const lb = await startLb(t, config(server.port, 'v2', `caFile: "${ca.caFile}", serverName: api.internal`));
  for (const expected of ['connection 0', 'connection 1']) {
    const { text } = await twoRequests(lb.port('web'), client, 'api', 'connection');
    assert.deepEqual([...text.matchAll(/connection \d+ from [\d.]+/g)].map((m) => m[0]), [`${expected} from ${client}`, `${expected} from ${client}`], text);
  }
  assert.equal(server.connections.length, 2);
});
