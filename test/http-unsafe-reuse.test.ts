import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import test, { type TestContext } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

interface Seen {
  method: string;
  /** lb's end of the backend connection: the same port is the same connection. */
  port: number;
  connection: string;
}

/** A backend that records which connection carried each request; `/drop` closes it unanswered. */
async function recordingBackend(t: TestContext): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push({ method: req.method!, port: req.socket.remotePort!, connection: req.headers.connection ?? '' });
    req.resume();
    req.on('end', () => {
      if (req.url === '/drop') return void req.socket.destroy();
      // `/last` answers and closes the connection, so that the pool has none left.
      if (req.url === '/last') res.setHeader('connection', 'close');
      res.end('ok');
    });
  });
  return { url: backend.url, seen };
}

/**
 * One keep-alive client connection: a request at a time, each answer read whole (1xx skipped).
 * `expectContinue` sends every request with `Expect: 100-continue`, which lb leaves to Node's
 * parser: the same rules must hold on both of lb's client paths.
 */
async function keepAliveClient(t: TestContext, port: number, expectContinue: boolean) {
  const socket: Socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  let closed = false;
  let wake = () => {};
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => ((received += text), wake()));
  socket.on('close', () => ((closed = true), wake()));
  socket.on('error', () => {});

  /** The next whole response, or null when lb closed the connection without one. */
  const response = async (): Promise<number | null> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd >= 0) {
        const head = received.slice(0, headEnd);
        const status = Number(head.slice(9, 12));
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (status < 200 || received.length >= headEnd + 4 + length) {
          received = received.slice(headEnd + 4 + (status < 200 ? 0 : length));
          if (status >= 200) return status;
          continue;
        }
      }
      if (closed) return null;
      assert.ok(Date.now() < deadline, 'no answer within 5 s');
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  };

  return (method: string, path = '/', viaNode = expectContinue) => {
    const body = method === 'GET' ? '' : 'payload';
    const expect = viaNode ? 'Expect: 100-continue\r\n' : '';
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: app\r\n${expect}Content-Length: ${body.length}\r\n\r\n${body}`);
    return response();
  };
}

const distinct = (ports: number[]) => new Set(ports).size;

for (const expectContinue of [false, true]) {
  const path = expectContinue ? "Node's parser" : 'the fast path';

  test(`unsafeReuse never: every POST gets a connection of its own (${path})`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url));
    const send = await keepAliveClient(t, lb.port('web'), expectContinue);
    assert.deepEqual([await send('GET'), await send('POST'), await send('POST'), await send('GET')], [200, 200, 200, 200]);
    const [get, post1, post2, get2] = backend.seen;
    assert.equal(get!.port, get2!.port, 'GETs share the pooled connection');
    assert.equal(distinct([get!.port, post1!.port, post2!.port]), 3, 'each POST on a new connection');
    assert.deepEqual([post1!.connection, post2!.connection], ['close', 'close']);
  });

  test(`unsafeReuse safe: a pooled connection that closes under a later POST closes the client connection unanswered (${path})`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe, retries: 0,'));
    const send = await keepAliveClient(t, lb.port('web'), expectContinue);
    assert.equal(await send('GET'), 200);
    // The server closes as the POST arrives, as a server closing an idle connection would: the
    // client sees what it would have seen from the server itself, and may retry.
    assert.equal(await send('POST', '/drop'), null);
  });

  test(`unsafeReuse safe: the first request of a client connection gets its own, later POSTs are pooled (${path})`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe,'));
    const send = await keepAliveClient(t, lb.port('web'), expectContinue);
    assert.deepEqual([await send('POST'), await send('POST'), await send('POST')], [200, 200, 200]);
    const [first, second, third] = backend.seen;
    assert.equal(first!.connection, 'close', 'the first POST opens a connection for itself');
    assert.notEqual(first!.port, second!.port);
    assert.equal(second!.port, third!.port, 'later POSTs share a pooled connection');
    assert.notEqual(second!.connection, 'close');
  });
}

test('unsafeReuse always: a POST takes an idle pooled connection, even as the first request', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: always,'));
  assert.equal(await (await keepAliveClient(t, lb.port('web'), false))('GET'), 200);
  assert.equal(await (await keepAliveClient(t, lb.port('web'), false))('POST'), 200);
  const [get, post] = backend.seen;
  assert.equal(get!.port, post!.port);
  assert.notEqual(post!.connection, 'close');
});

test('unsafeReuse safe: a first POST that loses its connection is answered 502, and its connection goes on', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe, retries: 0,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('POST', '/drop'), 502);
  assert.equal(await send('GET'), 200);
});

test('unsafeReuse safe: a later POST on a new upstream connection that closes is answered 502 (the server read it)', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe, retries: 0,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET', '/last'), 200);
  assert.equal(await send('POST', '/drop'), 502);
  assert.equal(await send('GET'), 200, 'and the client connection goes on');
  assert.notEqual(backend.seen[0]!.port, backend.seen[1]!.port);
});

test('unsafeReuse safe: a connection the fast path served before it left it to Node still counts its requests', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET'), 200);
  assert.equal(await send('POST', '/', true), 200, 'Expect: 100-continue is left to Node');
  const [get, post] = backend.seen;
  assert.equal(post!.port, get!.port, 'the POST is not the first of its connection: pooled');
  assert.notEqual(post!.connection, 'close');
});

test('unsafeReuse never: a POST that loses its connection is answered 502, on any request of a client connection', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'retries: 0,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET'), 200);
  assert.equal(await send('POST', '/drop'), 502);
  assert.equal(await send('GET'), 200);
});
