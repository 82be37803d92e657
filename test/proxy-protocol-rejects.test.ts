import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { writeProxyHeader } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startLb, type TestBalancer } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { namedBackend, startTcpServer } from './helpers/servers.js';
import { within } from './helpers/wait.js';

// Connections that break the PROXY protocol rules: each is closed and counted by reason, lb
// keeps running, and other connections are served meanwhile. 127.0.0.1 is the trusted source;
// 127.0.0.3 is anyone else.
const trusted = '127.0.0.1';
const stranger = '127.0.0.3';
const header = writeProxyHeader('v2', { source: { address: '192.0.2.7', port: 40000 }, destination: { address: '127.0.0.1', port: 80 } });
const get = 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n';

async function rejected(lb: TestBalancer): Promise<Record<string, number>> {
  const text = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^lb_proxy_protocol_rejected_total\{entrypoint="(\w+)",reason="(\w+)"\} (\d+)$/gm)].map((m) => [`${m[1]}/${m[2]}`, Number(m[3])]));
}

/** Opens a connection from `localAddress`, writes `bytes` (then a FIN with `end`), and resolves when lb has closed it. */
async function closedByLb(port: number, localAddress: string, bytes: Buffer | string, options: { end?: boolean } = {}): Promise<string> {
  const socket: Socket = connect({ port, host: '127.0.0.1', localAddress });
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  socket.once('connect', () => (options.end ? socket.end(bytes) : socket.write(bytes)));
  await within(new Promise((resolve) => socket.once('close', resolve)), `lb to close the connection after ${JSON.stringify(String(bytes).slice(0, 20))}`, 5_000);
  return text;
}

test('HTTP: an untrusted header, a missing, malformed, cut or slow one are each closed and counted, and lb serves meanwhile', async (t) => {
  const backend = await namedBackend(t, 'served');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: `proxyProtocol: { trustedIPs: ["${trusted}/32"] }, timeouts: { requestHeaders: 400ms, idle: 600ms }` }));
  const port = lb.port('web');
  // A stranger that stays silent is an idle connection: closed after timeouts.idle, not counted.
  const silent = closedByLb(port, stranger, Buffer.alloc(0));
  // Half a header, then silence: it holds its connection until the deadline, while others are served.
  const slow = closedByLb(port, trusted, header.subarray(0, 10));
  const served = await rawRequest(port, Buffer.concat([header, Buffer.from(get)]), 3_000, trusted);
  assert.match(served.text, /^HTTP\/1\.1 200[\s\S]*served$/);
  assert.equal(await slow, '', 'nothing is answered');
  assert.equal(await closedByLb(port, stranger, Buffer.concat([header, Buffer.from(get)])), '');
  assert.equal(await closedByLb(port, stranger, 'PROXY TCP4 192.0.2.7 127.0.0.1 40000 80\r\n'), '');
  assert.equal(await closedByLb(port, trusted, get), '', 'a trusted source must send the header');
  assert.equal(await closedByLb(port, trusted, 'PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n'), '');
  assert.equal(await closedByLb(port, trusted, header.subarray(0, 20), { end: true }), '');
  // A stranger without a header is served as usual, a method that starts like "PROXY" included.
  assert.equal(statusOf((await rawRequest(port, get, 3_000, stranger)).text), 200);
  assert.equal(statusOf((await rawRequest(port, 'PROPFIND / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', 3_000, stranger)).text), 200);
  assert.equal(await silent, '');
  assert.deepEqual(await rejected(lb), { 'web/untrusted_source': 2, 'web/missing': 1, 'web/malformed': 1, 'web/truncated': 1, 'web/timeout': 1 });
});

test('TCP: an untrusted peer is relayed at once (a server may speak first), but one that sends a PROXY header is closed and counted', async (t) => {
  const backend = await startTcpServer(t, (socket) => {
    socket.write('220 hello\r\n');
    socket.on('data', (chunk: Buffer) => socket.write(`echo ${chunk.toString('latin1')}`));
  });
  const lb = await startLb(t, lbYaml(`
routers: { mail: { entrypoint: mail, service: mail } }
services: { mail: { servers: [ { address: "127.0.0.1:${backend.port}" } ] } }
`, { web: false, entrypoints: { mail: `protocol: tcp, proxyProtocol: { trustedIPs: ["${trusted}/32"] }, timeouts: { requestHeaders: 400ms }` } }));
  const port = lb.port('mail');
  const greeted = await rawRequest(port, Buffer.alloc(0), 500, stranger);
  assert.equal(greeted.text, '220 hello\r\n', 'the server spoke first to a client that sent nothing');
  const chat = await rawRequest(port, 'PROXIMA\r\n', 500, stranger);
  assert.equal(chat.text, '220 hello\r\necho PROXIMA\r\n', 'bytes held while they could start a header go on');
  assert.equal(await closedByLb(port, stranger, header), '220 hello\r\n');
  assert.equal(await closedByLb(port, trusted, 'HELO there\r\n'), '', 'a trusted source must send the header');
  assert.equal(await closedByLb(port, trusted, header.subarray(0, 5)), '', 'a header that never ends');
  assert.equal((await rawRequest(port, Buffer.concat([header, Buffer.from('HELO\r\n')]), 500, trusted)).text, '220 hello\r\necho HELO\r\n');
  assert.deepEqual(await rejected(lb), { 'mail/untrusted_source': 1, 'mail/missing': 1, 'mail/timeout': 1 });
});
