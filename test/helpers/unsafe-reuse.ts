// What the unsafeReuse tests share: a backend that records which of lb's connections carried
// each request, and one keep-alive client connection sending raw requests to lb.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { startBackend, type TestBackend } from './servers.js';

export interface Seen {
  method: string;
  /** lb's end of the backend connection: the same port is the same connection. */
  port: number;
  connection: string;
}

/** A backend that records which connection carried each request; `/drop` closes it unanswered. */
export async function connectionRecordingBackend(t: TestContext): Promise<TestBackend & { seen: Seen[] }> {
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
  return { ...backend, seen };
}

/**
 * One keep-alive client connection: a request at a time, each answer read whole (1xx skipped).
 * `expectContinue` sends every request with `Expect: 100-continue`, which lb leaves to Node's
 * parser: the same rules must hold on both of lb's client paths.
 */
export async function keepAliveClient(t: TestContext, port: number, expectContinue: boolean) {
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
