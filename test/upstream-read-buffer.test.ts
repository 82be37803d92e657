// The upstream connection reads into one buffer and reuses it; a chunk still queued for a slow
// client must not be overwritten by the next read. A slow reader makes every write queue.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

const size = 24 * 1024 * 1024;

/** Bytes that differ at every offset, so that a chunk overwritten by a later read shows. */
function pattern(): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE(i, i);
  return buf;
}

/** Reads one response through a socket that stops reading for a while every MiB: beyond what the kernel buffers, lb's writes queue. */
async function slowRead(port: number, path: string): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const parts: Buffer[] = [];
  let sinceStop = 0;
  for await (const part of socket) {
    parts.push(part as Buffer);
    sinceStop += (part as Buffer).length;
    if (sinceStop > 1024 * 1024) {
      sinceStop = 0;
      socket.pause();
      await delay(50);
      socket.resume();
    }
  }
  const whole = Buffer.concat(parts);
  return whole.subarray(whole.indexOf('\r\n\r\n') + 4);
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    const length = parseInt(body.toString('latin1', at, lineEnd), 16);
    // A malformed body must fail the test, not loop forever.
    if (lineEnd < 0 || Number.isNaN(length)) throw new Error(`not a chunked body: no chunk size at byte ${at}`);
    if (length === 0) return Buffer.concat(parts);
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + length));
    at = lineEnd + 2 + length + 2;
  }
}

const sha = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

test('bodies relayed to a slow client arrive intact, with Content-Length and chunked', { timeout: 60_000 }, async (t) => {
  const data = pattern();
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/length') res.setHeader('content-length', String(size));
    // Small pieces of odd sizes, one per turn of the event loop, so that lb reads them one by one:
    // its writes to the slow client then queue below the high-water mark, still returning true.
    let at = 0;
    const pump = () => {
      if (at >= size) return void res.end();
      const next = Math.min(size, at + 3_000 + (at % 6151));
      const ok = res.write(data.subarray(at, next));
      at = next;
      if (ok) setImmediate(pump);
      else res.once('drain', pump);
    };
    pump();
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const expected = sha(data);
  const withLength = await slowRead(lb.port('web'), '/length');
  assert.equal(withLength.length, size);
  assert.equal(sha(withLength), expected, 'Content-Length body corrupted');
  const chunked = dechunk(await slowRead(lb.port('web'), '/chunked'));
  assert.equal(chunked.length, size);
  assert.equal(sha(chunked), expected, 'chunked body corrupted');
});
