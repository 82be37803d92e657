// The fast path and its hand-over to Node's parser on one connection: pipelined bodies, a request
// the fast parser leaves to llhttp in the middle of a connection, chunked responses for HTTP/1.1
// and HTTP/1.0 clients, informational responses.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

function echoBackend(t: Parameters<typeof startBackend>[0]) {
  return startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('latin1').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/hints') res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      if (req.url === '/chunked') {
        res.write('part one, ');
        setTimeout(() => res.end('part two'), 10);
        return;
      }
      res.end(`${req.method} ${req.url} ${body}`);
    });
  });
}

test('pipelined requests with bodies, then one Node must parse, are answered in order', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const pipelined =
    'POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n' +
    // An absolute-form target is valid HTTP/1.1 that the fast parser leaves to llhttp.
    'GET http://a/three HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
  const { text, closed } = await rawRequest(lb.port('web'), pipelined, 5_000);
  const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.deepEqual(responses.map(statusOf), [200, 200, 200, 200], text);
  assert.ok(responses[0]!.endsWith('POST /one hello'));
  assert.ok(responses[1]!.endsWith('POST /two abcde'), 'a chunked request body is relayed whole');
  assert.match(responses[2]!, /GET (http:\/\/a)?\/three $/);
  assert.ok(responses[3]!.endsWith('GET /four '));
  assert.ok(closed, 'Connection: close is honoured after the hand-over too');
});

test('a chunked response goes on chunked to HTTP/1.1 clients, and until close to HTTP/1.0 ones', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const modern = await rawRequest(lb.port('web'), 'GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(modern.text, /transfer-encoding: chunked\r\n/i);
  assert.ok(modern.text.endsWith('\r\n0\r\n\r\n'), 'the chunks are relayed with their framing');
  assert.equal(modern.text.slice(modern.text.indexOf('\r\n\r\n') + 4).replace(/[0-9a-f]+\r\n|\r\n/g, ''), 'part one, part two');

  const old = await rawRequest(lb.port('web'), 'GET /chunked HTTP/1.0\r\nHost: a\r\n\r\n');
  assert.doesNotMatch(old.text, /transfer-encoding/i, 'HTTP/1.0 has no chunked coding');
  assert.match(old.text, /connection: close\r\n/i);
  assert.ok(old.text.endsWith('\r\n\r\npart one, part two'), 'the body is decoded and ends with the connection');
  assert.ok(old.closed);
});

test('informational responses are not relayed; the final one is', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const { text } = await rawRequest(lb.port('web'), 'GET /hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(text), 200);
  assert.doesNotMatch(text, /103/);
  assert.ok(text.endsWith('GET /hints '));
});

test('a head that arrives a few bytes at a time is served (llhttp takes it over)', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const socket = connect(lb.port('web'), '127.0.0.1');
  const errors: string[] = [];
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
  await once(socket, 'connect');
  const head = 'GET /slow HTTP/1.1\r\nHost: a\r\nX-Padding: some bytes to drip\r\nConnection: close\r\n\r\n';
  let reply = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (reply += chunk));
  // Listened for first: the answer, and the close, may come while the last bytes are still dripping.
  const closed = once(socket, 'close');
  for (let i = 0; i < head.length; i += 3) {
    socket.write(head.slice(i, i + 3));
    await delay(2);
  }
  await closed;
  assert.deepEqual(errors, [], 'lb closes the connection cleanly');
  assert.equal(statusOf(reply), 200);
  assert.ok(reply.endsWith('GET /slow '));
});
