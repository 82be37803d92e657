// compress lends each upstream chunk to zlib, which reads it later, on its thread, and gives the
// chunk's read buffer back only once zlib has consumed it. Here the flow scribbles over the buffer
// the moment it is given back, as a socket reading into it again would: the compressed response
// must still decode to what the server sent, on both paths (a body with a Content-Length, and a
// chunked one that compress decodes first), including a chunk that is only framing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CompressingHandler } from '../src/middleware/compress.js';
import { ChunkedDecoder } from '../src/proxy/http1/chunked.js';
import { parseResponseHead } from '../src/proxy/http1/response-head.js';
import type { BodyFlow, UpstreamHandler } from '../src/proxy/http1/upstream-connection.js';
import { seededText } from './helpers/bodies.js';

/** Runs one response through compress: `pieces` are the upstream reads, each copied into one reused read buffer. */
async function compressThrough(headText: string, pieces: readonly Buffer[], framed: boolean): Promise<Buffer> {
  const readBuffer = Buffer.alloc(64 * 1024);
  let lent = false;
  let givenBack: (() => void) | undefined;
  const flow: BodyFlow = {
    resume: () => undefined,
    keep: () => {
      lent = true;
      return () => {
        readBuffer.fill(0x21);
        lent = false;
        givenBack?.();
      };
    },
  };
  const out: Buffer[] = [];
  let finished!: () => void;
  let failed!: (err: Error) => void;
  const done = new Promise<void>((resolve, reject) => ((finished = resolve), (failed = reject)));
  const inner: UpstreamHandler = {
    onConnect: () => undefined,
    onHeaders: () => true,
    onData: (chunk) => (out.push(Buffer.from(chunk)), true),
    onComplete: () => finished(),
    onError: (err) => failed(err),
    onBodySent: () => undefined,
  };
  const handler = new CompressingHandler(inner, { encodings: ['gzip'], minResponseBodyBytes: 0, includedContentTypes: [] }, 'gzip', framed);
  handler.onConnect(() => undefined);
  const head = Buffer.from(headText, 'latin1');
  handler.onHeaders(parseResponseHead(head, 0, head.length, false)!, flow);
  for (const piece of pieces) {
    // A socket reads into its buffer again only once the chunk it lent has been given back.
    if (lent) await new Promise<void>((resolve) => (givenBack = resolve));
    piece.copy(readBuffer);
    handler.onData(readBuffer.subarray(0, piece.length));
  }
  handler.onComplete();
  await done;
  const body = Buffer.concat(out);
  if (!framed) return gunzipSync(body);
  const compressed: Buffer[] = [];
  new ChunkedDecoder((data) => compressed.push(Buffer.from(data))).feed(body, 0, body.length);
  return gunzipSync(Buffer.concat(compressed));
}

const data = seededText(11, 256 * 1024);
const reads = (bytes: Buffer, size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

test('compress gives a read buffer back only after zlib consumed its chunk: a body with a Content-Length', { timeout: 30_000 }, async () => {
  const decoded = await compressThrough(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${data.length}\r\n\r\n`, reads(data, 10_000), false);
  assert.ok(decoded.equals(data), 'the decoded body differs from what the server sent');
});

test('compress gives a read buffer back only after zlib consumed its chunk: a chunked body it decodes first', { timeout: 30_000 }, async () => {
  // Chunks of 3,000 bytes, read 7,000 bytes at a time: reads end inside data and inside size lines.
  const framing = Buffer.concat([...reads(data, 3_000).flatMap((chunk) => [Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
  // First a read of framing alone (half a size line): nothing for zlib, given back at once.
  const pieces = [framing.subarray(0, 2), ...reads(framing.subarray(2), 7_000)];
  const decoded = await compressThrough('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n', pieces, true);
  assert.ok(decoded.equals(data), 'the decoded body differs from what the server sent');
});
