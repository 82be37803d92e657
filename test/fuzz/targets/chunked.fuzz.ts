// The chunked decoder. The first byte picks how the body is split into reads; the rest is the
// body. Fed whole, a byte at a time, or in those pieces, it gives the same payload, ends at the
// same offset, or refuses with an HttpSyntaxError. What it accepts in a request, llhttp accepts
// with the same body.
import assert from 'node:assert/strict';
import { HttpSyntaxError } from '../../../src/errors.js';
import { ChunkedDecoder } from '../../../src/proxy/http1/chunked.js';
import { assertSameAsLlhttp, lbRequest, type Outcome } from '../../helpers/http1-differential.js';

const requestHead = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');

type Decoded = { end: number; payload: string } | { refused: string } | { incomplete: true };

/** Decodes `body` in reads whose sizes cycle through `sizes`. */
function decode(body: Buffer, sizes: readonly number[]): Decoded {
  const parts: Buffer[] = [];
  const decoder = new ChunkedDecoder((chunk) => parts.push(Buffer.from(chunk)));
  let at = 0;
  try {
    for (let n = 0; at < body.length && !decoder.done; n++) {
      // A read starts where the last ended only if the decoder took all of it (it stops at the body's end).
      const stop = Math.min(body.length, at + sizes[n % sizes.length]!);
      const next = decoder.feed(body, at, stop);
      assert.ok(next === stop || decoder.done, `feed stopped at ${next} of ${stop} without ending the body`);
      at = next;
    }
  } catch (err) {
    if (!(err instanceof HttpSyntaxError)) throw err;
    return { refused: 'HttpSyntaxError' };
  }
  if (!decoder.done) return { incomplete: true };
  return { end: at, payload: Buffer.concat(parts).toString('latin1') };
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const body = data.subarray(1);
  const whole = decode(body, [body.length || 1]);
  const context = JSON.stringify(body.toString('latin1'));
  assert.deepEqual(decode(body, [1]), whole, `a byte at a time: ${context}`);
  const sizes = [1 + (data[0]! & 7), 1 + (data[0]! >> 3)];
  assert.deepEqual(decode(body, sizes), whole, `in reads of ${sizes.join(', ')}: ${context}`);
  if (!('end' in whole)) return;
  const input = Buffer.concat([requestHead, body]);
  const ours: Outcome = lbRequest(input);
  assert.equal(ours.kind, 'ok', context);
  if (ours.kind === 'ok') assertSameAsLlhttp('request', input, ours);
}
