import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend, startTcpServer } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

const ambiguous: Record<string, string> = {
  'Content-Length with Transfer-Encoding': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX',
  'duplicate Content-Length, same value': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
  'duplicate Content-Length, different values': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
  'Content-Length list': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc',
  'invalid Content-Length': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc',
  'obs-fold': 'GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n',
  'bare LF in the header block': 'GET / HTTP/1.1\r\nHost: a\nX-Sneaky: 1\r\n\r\n',
  'bare CR in the header block': 'GET / HTTP/1.1\r\nHost: a\rX-Sneaky: 1\r\n\r\n',
  'unknown Transfer-Encoding': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n',
  'space before the colon': 'GET / HTTP/1.1\r\nHost: a\r\nX-Space : 1\r\n\r\n',
  'bad chunk size': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
};

test('requests that are ambiguous for smuggling get 400 and the connection is closed', async (t) => {
  let reachedBackend = 0;
  const backend = await startBackend(t, (req, res) => {
    reachedBackend++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  for (const [name, payload] of Object.entries(ambiguous)) {
    const { text, closed } = await rawRequest(lb.port('web'), payload);
    assert.equal(statusOf(text), 400, `${name}: ${JSON.stringify(text.slice(0, 60))}`);
    assert.match(text, /Connection: close/, name);
    assert.match(text, /400 Bad Request: malformed or ambiguous request/, name);
    assert.ok(closed, `${name}: the connection must be closed`);
  }
  const noHost = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(statusOf(noHost.text), 400, 'an HTTP/1.1 request without Host');
  assert.ok(noHost.closed);
  assert.equal(reachedBackend, 0, 'no ambiguous request may reach a backend');
  const { text } = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(text), 200, 'lb still serves after rejecting them');
});

test('a request head over 16 KiB gets 431', async (t) => {
  const lb = await startLb(t, lbYaml());
  const { text, closed } = await rawRequest(lb.port('web'), `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
  assert.equal(statusOf(text), 431);
  assert.ok(closed);
});

test('a client that does not finish its request head in time gets 408', async (t) => {
  const lb = await startLb(t, lbYaml('', { web: 'timeouts: { requestHeaders: 300ms }' }));
  const started = Date.now();
  const { text, closed } = await rawRequest(lb.port('web'), 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ', 5_000);
  assert.equal(statusOf(text), 408);
  assert.ok(closed);
  assert.ok(Date.now() - started < 3_000);
});

test('after an early answer to a request whose body is unread, the rest of the body is never read as a request', async (t) => {
  // A backend that answers as soon as it has the head, reads and drops the rest, and keeps its
  // connection open: only lb can end the unfinished upload.
  const seen: string[] = [];
  let open = 0;
  const { port } = await startTcpServer(t, (socket) => {
    open++;
    socket.on('close', () => open--);
    socket.on('error', () => undefined);
    let head = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      head += chunk;
      for (const line of head.match(/^(GET|POST) \S+/gm) ?? []) if (!seen.includes(line)) seen.push(line);
      if (seen.length === 1 && head.includes('\r\n\r\n') && !socket.writableEnded) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly');
    });
  });
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`));
  // Half-open, so that the client can go on sending after lb's FIN, as an attacker would.
  const socket = connect({ port: lb.port('web'), host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let reply = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (reply += chunk));
  socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\nstart');
  await eventually(() => reply.includes('early'), 'the early answer', 5_000);
  assert.match(reply, /early$/);
  assert.match(reply, /connection: close/i, 'the connection closes, since the body is unread');
  // The "body" goes on with what would be a second request if lb parsed it.
  socket.write('GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n');
  // A fixed window on purpose: what is proven is that nothing more reaches the backend within it.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(seen, ['POST /upload'], 'nothing after the early answer reached the backend');
  // The upload can never be finished: lb drops its upstream connection rather than leave it waiting.
  assert.equal(open, 0, 'the upstream connection of the unfinished upload is closed');
  socket.destroy();
});
