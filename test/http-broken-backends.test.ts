import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startTcpServer } from './helpers/servers.js';

// Servers that break HTTP/1.1 in the ways issue 17 lists: each answer is a clear status and error
// kind before the response head, a connection cut (not a clean end) after it, and the client
// never hangs. The servers are raw sockets, so that they can send what no HTTP library would.

/** A server that answers every request head it reads with `answer` (given the socket). */
async function rawServer(t: Parameters<typeof startTcpServer>[0], answer: (socket: Socket, head: string) => void): Promise<number> {
  const { port } = await startTcpServer(t, (socket) => {
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      answer(socket, head);
    });
    socket.on('error', () => undefined);
  });
  return port;
}

test('an oversized response head answers 502 bad_response', { timeout: 20_000 }, async (t) => {
  const port = await rawServer(t, (socket) => socket.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(128 * 1024)}\r\nContent-Length: 2\r\n\r\nok`));
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  const res = await request(lb.url('web'));
  assert.equal(res.statusCode, 502);
  assert.equal(res.headers['lb-error'], 'LB_UPSTREAM_BAD_RESPONSE');
  await res.body.text();
});

test('invalid chunked framing before the head went out answers 502; after it, cuts the client connection', { timeout: 20_000 }, async (t) => {
  // All in one write: lb reads the broken framing with the head, before it sent the client a byte.
  const atOnce = await rawServer(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n'));
  // The head and a chunk, then broken framing a moment later: the client has the head by then.
  const later = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    setTimeout(() => socket.write('zz\r\nnot a chunk\r\n'), 300);
  });
  const lb = await startLb(t, `${lbYaml(`
routers:
  atOnce: { entrypoint: web, match: { pathPrefix: /at-once }, service: atOnce }
  later: { entrypoint: web, match: { pathPrefix: /later }, service: later }
services:
  atOnce: { servers: [ { url: "http://127.0.0.1:${atOnce}" } ] }
  later: { servers: [ { url: "http://127.0.0.1:${later}" } ] }
`)}`);
  const early = await rawRequest(lb.port('web'), 'GET /at-once HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
  assert.equal(statusOf(early.text), 502);
  assert.match(early.text, /lb-error: LB_UPSTREAM_BAD_RESPONSE/i);
  const cut = await rawRequest(lb.port('web'), 'GET /later HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
  assert.equal(statusOf(cut.text), 200);
  assert.match(cut.text, /\r\n\r\n5\r\nhello\r\n/);
  assert.ok(cut.closed, 'lb closes the client connection');
  assert.ok(!cut.text.endsWith('0\r\n\r\n'), 'no terminating chunk: the client can tell the body was cut');
  assert.ok(!cut.text.includes('not a chunk'), 'the broken bytes are not relayed');
});

test('a server that sends its head and then waits: the client has the head at once', { timeout: 20_000 }, async (t) => {
  const port = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    setTimeout(() => socket.write('a\r\ndata: hi\n\n\r\n0\r\n\r\n'), 2_000);
  });
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  // The fast path, and Node's (an absolute-form target sends a request there).
  for (const target of ['/', `http://127.0.0.1:${lb.port('web')}/`]) {
    const socket = connect(lb.port('web'), '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`));
    t.after(() => socket.destroy());
    const started = performance.now();
    const first = await new Promise<string>((resolve, reject) => {
      socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
      socket.once('error', reject);
    });
    const headMs = performance.now() - started;
    assert.equal(statusOf(first), 200);
    assert.ok(headMs < 1_000, `${target}: the head came after ${headMs.toFixed(0)} ms, not with the first event (2 s)`);
    socket.destroy();
  }
});

test('a body shorter than its Content-Length cuts the client connection when the server closes', { timeout: 20_000 }, async (t) => {
  const port = await rawServer(t, (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b'));
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  const raw = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 5_000);
  assert.equal(statusOf(raw.text), 200);
  assert.match(raw.text, /content-length: 100\r\n/i);
  assert.ok(raw.closed, 'closed: 10 of 100 bytes is not a response the client may take as whole');
  const res = await request(lb.url('web')).then((r) => r.body.text()).then(() => 'complete', (err: Error) => `cut: ${err.message}`);
  assert.match(res, /^cut:/);
});

test('bytes after a Content-Length body never reach the next request on that server connection', { timeout: 20_000 }, async (t) => {
  let served = 0;
  const port = await rawServer(t, (socket) => {
    served++;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled`);
  });
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await request(lb.url('web'));
    bodies.push(await res.body.text());
  }
  assert.deepEqual(bodies, ['first', 'first', 'first'], 'a server connection that sent more than its response is not reused');
  assert.equal(served, 3);
});

test('a 100 Continue and a 103 Early Hints before the answer: the client gets the final response', { timeout: 20_000 }, async (t) => {
  const port = await rawServer(t, (socket) => socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'));
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  for (let i = 0; i < 2; i++) {
    const res = await request(lb.url('web'));
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'final');
  }
});

test('a server that answers before the request body ends: the client gets that answer, and the connection is not reused', { timeout: 20_000 }, async (t) => {
  let connections = 0;
  const { port } = await startTcpServer(t, (socket) => {
    connections++;
    socket.once('data', () => socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!', () => setTimeout(() => socket.end(), 200)));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
  });
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  const body = Buffer.alloc(4 * 1024 * 1024, 'x');
  const res = await request(lb.url('web'), { method: 'POST', body, headers: { 'content-length': String(body.length) } }).catch((err: Error) => err);
  if (res instanceof Error) assert.fail(`the client got no answer: ${res.message}`);
  assert.equal(res.statusCode, 413);
  assert.equal(await res.body.text(), 'too big!');
  const next = await request(lb.url('web'), { method: 'POST', body: 'small' });
  assert.equal(next.statusCode, 413);
  await next.body.text();
  assert.equal(connections, 2, 'each request on a connection of its own');
});
