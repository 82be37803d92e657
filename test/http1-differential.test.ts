// lb's own HTTP/1.1 parsing (src/proxy/http1) against Node's llhttp, over thousands of generated
// and mutated messages. The rule: whatever lb accepts, llhttp accepts and reads the same way
// (method, target, version, headers, body, where the message ends). lb may refuse or defer more.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFER, INCOMPLETE, parseRequestHead } from '../src/proxy/http1/request-head.js';
import { assertSameAsLlhttp, comparable, Gen, generateRequest, generateResponse, lbRequest, lbResponse, mutate, prng } from './helpers/http1-differential.js';
import { llhttp } from './helpers/llhttp.js';

const SEED = Number(process.env.LB_FUZZ_SEED ?? 20261124);
const ROUNDS = 4000;

test('requests lb accepts, llhttp accepts and reads the same way', () => {
  const g = new Gen(prng(SEED));
  let accepted = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let input = generateRequest(g);
    for (let n = g.chance(0.5) ? 1 + g.int(3) : 0; n > 0; n--) input = mutate(g, input);
    const ours = lbRequest(input);
    if (ours.kind !== 'ok') continue;
    accepted++;
    assertSameAsLlhttp('request', input, ours, {}, ` (seed ${SEED})`);
  }
  // The generator must reach the accepting path, or this test would prove nothing.
  assert.ok(accepted > ROUNDS * 0.3, `only ${accepted} of ${ROUNDS} requests were accepted`);
});

test('responses lb accepts, llhttp accepts and reads the same way', () => {
  const g = new Gen(prng(SEED + 1));
  let accepted = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let input = generateResponse(g);
    for (let n = g.chance(0.5) ? 1 + g.int(3) : 0; n > 0; n--) input = mutate(g, input);
    const headRequest = g.chance(0.1);
    const ours = lbResponse(input, headRequest);
    if (ours.kind !== 'ok') continue;
    accepted++;
    assertSameAsLlhttp('response', input, ours, { headRequest, eof: ours.untilClose === true }, ` (seed ${SEED})`);
  }
  assert.ok(accepted > ROUNDS * 0.3, `only ${accepted} of ${ROUNDS} responses were accepted`);
});

test('pipelined requests end where llhttp says they end', () => {
  const g = new Gen(prng(SEED + 2));
  let compared = 0;
  for (let round = 0; round < 500; round++) {
    const input = Buffer.concat([generateRequest(g), generateRequest(g), generateRequest(g)]);
    const theirs = llhttp('request', input);
    let offset = 0;
    for (const expected of theirs.messages) {
      const rest = input.subarray(offset);
      const ours = lbRequest(rest);
      if (ours.kind !== 'ok') break;
      assert.deepEqual(comparable(expected, input, ours.message.keepAlive), comparable(ours.message, input, true), JSON.stringify(input.toString('latin1')));
      offset += ours.consumed;
      compared++;
    }
  }
  assert.ok(compared > 300, `only ${compared} pipelined requests compared`);
});

test('every prefix of an accepted head is incomplete, never a different request', () => {
  const g = new Gen(prng(SEED + 3));
  for (let round = 0; round < 300; round++) {
    const input = generateRequest(g);
    const whole = parseRequestHead(input, 0, input.length);
    if (typeof whole !== 'object') continue;
    for (let cut = 0; cut < whole.headBytes; cut++) assert.equal(parseRequestHead(input, 0, cut), INCOMPLETE, `prefix ${cut} of ${JSON.stringify(input.toString('latin1'))}`);
  }
});

test('the ambiguous framings of the smuggling catalogue are never accepted', () => {
  const requests = [
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\nabc',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nBad[Name: b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\t\r\n\r\nabc',
    `GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
  ];
  for (const text of requests) assert.equal(parseRequestHead(Buffer.from(text, 'latin1'), 0, text.length), DEFER, JSON.stringify(text.slice(0, 80)));
  const chunkedRequest = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
  // Found by the fuzz targets (test/fuzz): framing fields in the trailers, a tab after framing values.
  for (const body of ['0\r\nTransfer-Encoding: chunked\r\n\r\n', '0\r\nContent-Length: 5\r\n\r\n', 'g\r\nabc\r\n0\r\n\r\n', '3\r\nabcX\r\n0\r\n\r\n', '-1\r\n\r\n', 'ffffffffffffffff\r\n', '3 \r\nabc\r\n0\r\n\r\n', '3\nabc\r\n0\r\n\r\n', '0\r\nX: a\rb\r\n\r\n']) {
    assert.equal(lbRequest(Buffer.from(chunkedRequest + body, 'latin1')).kind, 'refused', JSON.stringify(body));
  }
  for (const response of ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'HTTP/1.1 2000 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\t\r\n\r\na', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n']) {
    assert.equal(lbResponse(Buffer.from(response, 'latin1'), false).kind, 'refused', JSON.stringify(response));
  }
});
