import { connect } from 'node:net';
import { eventually, within } from './wait.js';

export interface RawExchange {
  /** Everything the server sent before closing or the deadline. */
  text: string;
  /** Whether the server closed the connection (rather than the deadline passing). */
  closed: boolean;
}

/**
 * Writes bytes to a port and collects the reply until the server closes or `waitMs` passes;
 * `localAddress`: the loopback address to connect from (127.0.0.2, ...), to be told apart from lb's own.
 */
export function rawRequest(port: number, payload: string | Buffer, waitMs = 2_000, localAddress?: string): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => socket.write(payload));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function statusOf(response: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return match ? Number(match[1]) : 0;
}

/**
 * Two GETs on one keep-alive connection from `localAddress`, the second sent once the first was
 * answered (with `marker` in its body) and closing the connection; resolves with all the client
 * read and its port.
 */
export async function twoRequests(port: number, localAddress: string, host: string, marker: string): Promise<{ text: string; clientPort: number }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  await new Promise((resolve) => socket.once('connect', resolve));
  const clientPort = socket.localPort!;
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.write(`GET /one HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  await eventually(() => text.includes(marker), 'the first response');
  socket.write(`GET /two HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  await within(new Promise((resolve) => socket.once('close', resolve)), 'the second response');
  return { text, clientPort };
}
