import type { Socket } from 'node:net';

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Reads a plain connection's first bytes on an entrypoint that speaks h2c with prior knowledge:
 * once they are the HTTP/2 preface, `h2` gets the socket (paused) and the bytes read; as soon as
 * they cannot be, `h1` gets them for the HTTP/1.1 fast path. `read`: bytes already read (after a
 * PROXY header). A client that sends too little within `timeoutMs` is closed.
 */
export function sniffPreface(socket: Socket, read: Buffer | undefined, timeoutMs: number, h2: (bytes: Buffer) => void, h1: (bytes: Buffer | undefined) => void): void {
  let bytes = read && read.length > 0 ? read : undefined;
  const decide = (): boolean => {
    if (!bytes) return false;
    const n = Math.min(bytes.length, PREFACE.length);
    if (bytes.compare(PREFACE, 0, n, 0, n) !== 0) {
      stop();
      h1(bytes);
      return true;
    }
    if (bytes.length < PREFACE.length) return false;
    stop();
    socket.pause();
    h2(bytes);
    return true;
  };
  const onData = (chunk: Buffer) => {
    bytes = bytes ? Buffer.concat([bytes, chunk]) : chunk;
    decide();
  };
  const onClose = () => stop();
  const timer = setTimeout(() => {
    stop();
    socket.destroy();
  }, timeoutMs);
  function stop(): void {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
  }
  if (decide()) return;
  socket.on('error', () => undefined);
  socket.on('data', onData);
  socket.once('close', onClose);
  // A connection handed over paused (after a PROXY header) flows again until its first bytes are in.
  socket.resume();
}
