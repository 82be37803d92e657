// The HTTP/2 → HTTP/1.1 translation of request heads: whatever header list translateRequest
// accepts, the HTTP/1.1 head lb makes of it is read by Node's llhttp as exactly one request, with
// the same method, target and Host, the client's fields unchanged and in order, the body framed
// as declared, and no connection-specific field: one request in, one request out (no smuggling).
import assert from 'node:assert/strict';
import { http1RequestHead, translateRequest } from '../../../src/proxy/http2/request-head.js';
import { llhttp } from '../../helpers/llhttp.js';

/** Pseudo-headers of a well-formed request, put first when the first byte says so: the fuzzer then spends its time on the regular fields. */
const usual = [':method', 'POST', ':scheme', 'https', ':path', '/p?q=1', ':authority', 'app.test'];

/**
 * The input: a flags byte (bit 0: the head ends the stream; bit 1: begin with `usual`), then
 * fields as [name length][name][value length][value], latin1, as Node's http2 hands them over.
 */
export function decodeFields(data: Buffer): { raw: string[]; endStream: boolean } {
  const flags = data[0] ?? 0;
  const raw = flags & 2 ? [...usual] : [];
  let at = 1;
  while (at < data.length) {
    const nameLength = data[at++]!;
    const name = data.toString('latin1', at, at + nameLength);
    at += nameLength;
    const valueLength = data[at++] ?? 0;
    const value = data.toString('latin1', at, at + valueLength);
    at += valueLength;
    raw.push(name, value);
  }
  return { raw, endStream: (flags & 1) === 1 };
}

const facts = { clientIp: '192.0.2.7', trusted: false, proto: 'https' as const, port: 443, upgrade: false };
const connectionSpecific = /^(connection|transfer-encoding|keep-alive|upgrade|proxy-connection|te|host)$/;
/** Fields that go on to the server: not hop-by-hop (headers.ts drops Trailer and Expect too), not an untrusted client's X-Forwarded-*. */
const travels = (name: string) => !name.startsWith(':') && !connectionSpecific.test(name) && name !== 'trailer' && name !== 'expect' && !name.startsWith('x-forwarded-');
const names = (list: readonly string[]) => list.filter((_, i) => i % 2 === 0);

export function fuzz(data: Buffer): void {
  const { raw, endStream } = decodeFields(data);
  const translated = translateRequest(raw, endStream);
  if (translated.refused !== undefined) return;
  const { head } = translated;
  const bytes = http1RequestHead(head, facts, false);
  const body = head.contentLength > 0 ? Buffer.alloc(head.contentLength, 0x61) : head.contentLength < 0 ? Buffer.from('1\r\nb\r\n0\r\n\r\n') : Buffer.alloc(0);
  const parsed = llhttp('request', Buffer.concat([bytes, body]));
  const shown = JSON.stringify(bytes.toString('latin1'));
  assert.equal(parsed.error, undefined, `llhttp refused ${shown}`);
  assert.equal(parsed.messages.length, 1, `not one request: ${shown}`);
  const message = parsed.messages[0]!;
  assert.ok(message.complete, `incomplete: ${shown}`);
  assert.equal(message.method, head.method);
  assert.equal(message.url, head.path);
  assert.equal(message.body.length, head.contentLength < 0 ? 1 : head.contentLength, `body of ${shown}`);
  const fields: string[] = [];
  let host: string | undefined;
  for (let i = 0; i < message.rawHeaders.length; i += 2) {
    const name = message.rawHeaders[i]!.toLowerCase();
    const value = message.rawHeaders[i + 1]!;
    if (name === 'host') {
      assert.equal(host, undefined, `two Host lines: ${shown}`);
      host = value;
    } else if (name === 'transfer-encoding') {
      assert.ok(head.contentLength < 0 && value === 'chunked', `framing of ${shown}`);
    } else if (!name.startsWith('x-forwarded-')) {
      assert.ok(travels(name), `${name} reached HTTP/1.1: ${shown}`);
      fields.push(name, value);
    }
  }
  assert.equal(host, head.authority);
  const expected = head.fields.flatMap((value, i) => (i % 2 === 0 && travels(value) ? [value, head.fields[i + 1]!] : []));
  assert.deepEqual(fields, expected, `fields changed on the way: ${shown}`);
  // What the client sent arrives as it was: every field that travels, in order, cookie crumbs joined (last).
  assert.deepEqual(names(fields).filter((n) => n !== 'cookie'), names(raw).filter((n) => travels(n) && n !== 'cookie'));
}
