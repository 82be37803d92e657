// The fast-path request parser against Node's llhttp: whatever the fast path accepts, llhttp
// accepts with the same method, target, version, headers, keep-alive and body framing; and every
// proper prefix of an accepted head is incomplete, never a different request.
import assert from 'node:assert/strict';
import { INCOMPLETE, parseRequestHead } from '../../../src/proxy/http1/request-head.js';
import { assertSameAsLlhttp, lbRequest } from '../../helpers/http1-differential.js';

export function fuzz(data: Buffer): void {
  const ours = lbRequest(data);
  if (ours.kind !== 'ok') return;
  assertSameAsLlhttp('request', data, ours);
  const head = parseRequestHead(data, 0, data.length);
  assert.ok(typeof head === 'object');
  for (let cut = 0; cut < head.headBytes; cut++) assert.equal(parseRequestHead(data, 0, cut), INCOMPLETE, `prefix ${cut} of ${JSON.stringify(data.toString('latin1'))}`);
}
