import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import test, { type TestContext } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

/** A body whose every byte is known, so that a response cut short or reordered cannot pass. */
function patternBody(bytes: number): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) body[i] = (i * 31 + (i >> 10)) & 0xff;
  return body;
}

/**
 * Sends one `Connection: close` request and reads nothing for a while, so that lb closes its side
 * while the response still waits in the kernel (or in lb), then reads it all: what arrives, and
 * whether the connection ended with a FIN rather than a reset.
 */
async function slowReader(t: TestContext, port: number): Promise<{ received: Buffer; error: string | undefined }> {
  const socket = connect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  const chunks: Buffer[] = [];
  let error: string | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  socket.pause();
  socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 400));
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  return { received: Buffer.concat(chunks), error };
}

for (const [label, bytes] of [['256 KiB, all of it in the kernel when lb closes', 256 * 1024], ['16 MiB, more than the kernel holds', 16 * 1024 * 1024]] as const) {
  test(`a client that asked to close and reads late gets the whole response, then a FIN: ${label}`, { timeout: 30_000 }, async (t) => {
    const body = patternBody(bytes);
    const backend = await startBackend(t, (req, res) => {
      req.resume();
      res.setHeader('content-length', body.length);
      res.end(body);
    });
    const lb = await startLb(t, oneServiceConfig(backend.url));
    const { received, error } = await slowReader(t, lb.port('web'));
    assert.equal(error, undefined, 'the connection ended with a reset');
    const headEnd = received.indexOf('\r\n\r\n');
    assert.match(received.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 [^]*\r\nconnection: close$/im);
    const got = received.subarray(headEnd + 4);
    assert.equal(got.length, body.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(body).digest('hex'));
  });
}
