// The backend response-head parser against Node's llhttp. The first byte says whether the response
// answers a HEAD request (odd) or not; the rest is the response. Whatever lb accepts, llhttp
// accepts and reads the same way; anything else lb refuses with an HttpSyntaxError, never another
// exception.
import { HttpSyntaxError } from '../../../src/errors.js';
import { parseResponseHead } from '../../../src/proxy/http1/response-head.js';
import { assertSameAsLlhttp, lbResponse } from '../../helpers/http1-differential.js';

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const headRequest = (data[0]! & 1) === 1;
  const input = data.subarray(1);
  try {
    parseResponseHead(input, 0, input.length, headRequest);
  } catch (err) {
    if (!(err instanceof HttpSyntaxError)) throw err;
    return;
  }
  const ours = lbResponse(input, headRequest);
  if (ours.kind !== 'ok') return;
  assertSameAsLlhttp('response', input, ours, { headRequest, eof: ours.untilClose === true }, headRequest ? ' (answering HEAD)' : '');
}
