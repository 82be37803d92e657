import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { closedPort, startTcpServer } from './helpers/servers.js';
import { within } from './helpers/wait.js';

function tcpConfig(servers: string, extra = '') {
  return lbYaml(`
routers: { db: { entrypoint: db, service: db } }
services: { db: { ${extra} servers: [ ${servers} ] } }
`, { web: false, entrypoints: { db: 'protocol: tcp' } });
}

/** Reads until the peer closes its side; resolves with everything read. */
function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    socket.on('data', (part: Buffer) => parts.push(part));
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.once('error', reject);
  });
}

test('TCP echo with half-close: the client FIN passes on and the reply still comes back', async (t) => {
  // The backend only answers once it has seen the client's FIN: a sha256 of all it received.
  const backend = await startTcpServer(t, (socket) => {
    const hash = createHash('sha256');
    socket.on('data', (part: Buffer) => hash.update(part));
    socket.once('end', () => socket.end(hash.digest('hex')));
  }, { allowHalfOpen: true });
  const lb = await startLb(t, tcpConfig(`{ address: "127.0.0.1:${backend.port}" }`));
  const payload = Buffer.alloc(5 * 1024 * 1024, 7);
  const client = connect({ port: lb.port('db'), host: '127.0.0.1', allowHalfOpen: true });
  const reply = readAll(client);
  client.end(payload);
  assert.equal((await reply).toString(), createHash('sha256').update(payload).digest('hex'));
});

test('the server side can half-close too: the client keeps sending after the server FIN', async (t) => {
  let deliver: (text: string) => void = () => undefined;
  const received = new Promise<string>((resolve) => (deliver = resolve));
  const backend = await startTcpServer(t, (socket) => {
    socket.end('greeting');
    const parts: Buffer[] = [];
    socket.on('data', (part: Buffer) => parts.push(part));
    socket.once('end', () => deliver(Buffer.concat(parts).toString()));
  }, { allowHalfOpen: true });
  const lb = await startLb(t, tcpConfig(`{ address: "127.0.0.1:${backend.port}" }`));
  const client = connect({ port: lb.port('db'), host: '127.0.0.1', allowHalfOpen: true });
  assert.equal((await readAll(client)).toString(), 'greeting');
  client.end('late words');
  assert.equal(await received, 'late words');
});

test('a refused connect tries the next server once', async (t) => {
  const backend = await startTcpServer(t, (socket) => socket.end('from the live server'));
  const dead = await closedPort();
  const lb = await startLb(t, tcpConfig(`{ address: "127.0.0.1:${dead}" }, { address: "127.0.0.1:${backend.port}" }`));
  for (let i = 0; i < 4; i++) {
    const client = connect(lb.port('db'), '127.0.0.1');
    assert.equal((await readAll(client)).toString(), 'from the live server');
  }
});

test('with every server refusing, the client connection is closed', async (t) => {
  const lb = await startLb(t, tcpConfig(`{ address: "127.0.0.1:${await closedPort()}" }, { address: "127.0.0.1:${await closedPort()}" }`));
  const client = connect(lb.port('db'), '127.0.0.1');
  client.on('error', () => undefined);
  let received = 0;
  client.on('data', (part: Buffer) => (received += part.length));
  // Closed by a FIN or a reset alike (an error is ignored above): only 'close' is waited for.
  await within(new Promise((resolve) => client.once('close', resolve)), 'lb to close the client connection', 5_000);
  assert.equal(received, 0, 'nothing reached the client');
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_http_errors_total\{service="db",kind="connect_refused"\} 2$/m, 'both servers were tried before closing');
});

test('an idle tunnel is closed after the idle timeout', async (t) => {
  const backend = await startTcpServer(t, () => undefined);
  const lb = await startLb(t, tcpConfig(`{ address: "127.0.0.1:${backend.port}" }`, 'timeouts: { idle: 300ms },'));
  const started = Date.now();
  const client = connect(lb.port('db'), '127.0.0.1');
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('close', resolve));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 3_000, `closed after ${elapsed}ms`);
});

test('a server that stops reading stops the client too (backpressure), and every byte arrives in order', { timeout: 30_000 }, async (t) => {
  // More than the kernel's socket buffers on both hops can hold, so that lb must stop reading.
  const payload = Buffer.alloc(96 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32BE(i, i);
  let server: Socket | undefined;
  let received: (digest: string) => void = () => undefined;
  const digest = new Promise<string>((resolve) => (received = resolve));
  const backend = await startTcpServer(t, (socket) => {
    server = socket;
    socket.pause();
    const hash = createHash('sha256');
    socket.on('data', (part: Buffer) => hash.update(part));
    socket.once('end', () => received(hash.digest('hex')));
  }, { allowHalfOpen: true });
  const lb = await startLb(t, tcpConfig(`{ address: "127.0.0.1:${backend.port}" }`));
  const client = connect({ port: lb.port('db'), host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => client.destroy());
  client.end(payload);
  // A fixed window on purpose: what is proven is that the client does NOT drain within it.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  // Without backpressure lb would have read the whole payload into its memory by now.
  assert.ok(client.writableLength > 0, 'the client is held back while the server does not read');
  server!.resume();
  assert.equal(await digest, createHash('sha256').update(payload).digest('hex'));
});
