// The ClientHello reader (SNI and ALPN, from a TLS connection's first bytes). It returns one of its
// three result shapes and never throws. Read over any prefix of the input, it says `incomplete`
// up to some point and from there on what it says for the whole input, so a hello split over TCP
// segments anywhere reads the same. A hello it accepts reads the same when its handshake message
// is cut into TLS records of another size (the first input byte picks it).
import assert from 'node:assert/strict';
import { readClientHello, type ClientHelloResult } from '../../../src/tls/client-hello.js';

/** The handshake bytes of the records at the start of `bytes` (those the reader would join). */
function handshakePayload(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let joined = 0;
  for (let at = 0; at + 5 <= bytes.length; ) {
    const end = at + 5 + bytes.readUInt16BE(at + 3);
    parts.push(bytes.subarray(at + 5, end));
    joined += end - at - 5;
    at = end;
    const payload = Buffer.concat(parts);
    if (joined >= 4 && joined >= 4 + payload.readUIntBE(1, 3)) return payload.subarray(0, 4 + payload.readUIntBE(1, 3));
  }
  throw new Error('an accepted ClientHello without its records');
}

function records(payload: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const piece = payload.subarray(at, at + size);
    out.push(Buffer.from([22, 3, 1, piece.length >> 8, piece.length & 0xff]), piece);
  }
  return Buffer.concat(out);
}

function check(result: ClientHelloResult, context: string): void {
  if (result.status === 'ok') {
    assert.ok(result.serverName === undefined || /^[a-z0-9._-]+$/.test(result.serverName), `server name ${result.serverName}: ${context}`);
    assert.ok(Array.isArray(result.alpn) && result.alpn.every((p) => typeof p === 'string' && p.length > 0), context);
  } else if (result.status === 'invalid') assert.ok(typeof result.reason === 'string' && result.reason.length > 0, context);
  else assert.equal(result.status, 'incomplete', context);
}

const notTls = 'not a TLS handshake';

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const input = data.subarray(1);
  const context = input.toString('hex');
  const whole = readClientHello(input);
  check(whole, context);
  let decided = false;
  for (let cut = 0; cut < input.length; cut++) {
    const part = readClientHello(input.subarray(0, cut));
    if (!decided && part.status === 'incomplete') continue;
    decided = true;
    // Refused either way, which check refused first may differ: the reason is logged, and only
    // whether it is "not TLS" is counted (src/proxy/tcp/server.ts), which must not differ.
    if (part.status === 'invalid' && whole.status === 'invalid') {
      assert.equal(part.reason === notTls, whole.reason === notTls, `prefix ${cut} of ${context}: ${part.reason} / ${whole.reason}`);
      continue;
    }
    assert.deepEqual(part, whole, `prefix ${cut} of ${context}`);
  }
  if (whole.status !== 'ok') return;
  const size = 1 + data[0]!;
  assert.deepEqual(readClientHello(records(handshakePayload(input), size)), whole, `in records of ${size} bytes: ${context}`);
}
