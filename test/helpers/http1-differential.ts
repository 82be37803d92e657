// HTTP/1.1 messages generated and mutated at random, and lb's own parsing of them (src/proxy/http1)
// compared with Node's llhttp: shared by test/http1-differential.test.ts and the fuzz targets
// (test/fuzz/), whose seeds come from the same generators. The rule: whatever lb accepts, llhttp
// accepts and reads the same way (method, target, version, headers, body, where the message ends).
import assert from 'node:assert/strict';
import { ChunkedDecoder } from '../../src/proxy/http1/chunked.js';
import { DEFER, INCOMPLETE, parseRequestHead } from '../../src/proxy/http1/request-head.js';
import { CHUNKED, parseResponseHead, UNTIL_CLOSE } from '../../src/proxy/http1/response-head.js';
import { llhttp, type ParsedMessage } from './llhttp.js';

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  text(alphabet: string, min: number, max: number): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
export const ODD_CHARS = ' \t\r\n:;,"()<>@[]{}\\/?=\x00\x01\x7f\x80\xff\u00e9';
const VALUE_CHARS = 'abcdefghijklmnopqrstuvwxyz ABC0123456789-_.,;=/"()\t';
const TARGET_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789/?=&%-._~!$'()*+,;:@#[]{}|\\^`\"<>";

function headerLines(g: Gen, mandatory: string[]): string {
  const lines = [...mandatory];
  for (let n = g.int(6); n > 0; n--) {
    const name = g.chance(0.05) ? g.text(TOKEN_CHARS + ODD_CHARS, 1, 8) : g.pick(['Accept', 'User-Agent', 'X-Trace', 'Cookie', 'Connection', 'Cache-Control', g.text(TOKEN_CHARS, 1, 12)]);
    const value = g.chance(0.05) ? g.text(VALUE_CHARS + ODD_CHARS, 0, 12) : name === 'Connection' ? g.pick(['close', 'keep-alive', 'Keep-Alive, X-Trace', 'upgrade']) : g.text(VALUE_CHARS, 0, 20);
    const ows = () => (g.chance(0.2) ? g.pick([' ', '\t', '  ']) : '');
    lines.splice(g.int(lines.length + 1), 0, `${name}:${ows()}${value}${ows()}`);
  }
  return lines.map((l) => `${l}\r\n`).join('');
}

export function chunkedBody(g: Gen): string {
  let body = '';
  for (let n = g.int(4); n > 0; n--) {
    const data = g.text('abcdefgh\r\n', 1, 40);
    const size = data.length.toString(16);
    const ext = g.chance(0.2) ? g.pick([';a', ';a=b', ';name=value;x', ';q="x"', '; a', ';']) : '';
    body += `${g.chance(0.2) ? size.toUpperCase().padStart(3, '0') : size}${ext}\r\n${data}\r\n`;
  }
  const trailers = g.chance(0.2) ? headerLines(g, []) : '';
  return `${g.chance(0.1) ? '000' : '0'}\r\n${trailers}\r\n`;
}

function framing(g: Gen, bodyless: boolean): { headers: string[]; body: string } {
  const roll = g.int(3);
  if (bodyless || roll === 0) return { headers: [], body: '' };
  if (roll === 1) {
    const body = g.text('xyz\r\n', 0, 60);
    return { headers: [`Content-Length: ${body.length}`], body };
  }
  return { headers: ['Transfer-Encoding: chunked'], body: chunkedBody(g) };
}

export function generateRequest(g: Gen): Buffer {
  const method = g.chance(0.9) ? g.pick(['GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']) : g.pick(['PROPFIND', 'CONNECT', 'get', 'BREW', 'TRACE']);
  const target = g.chance(0.9) ? `/${g.text(TARGET_CHARS, 0, 30)}` : g.pick(['*', 'http://example.com/x', 'example.com:80', '']);
  const version = g.chance(0.9) ? 'HTTP/1.1' : g.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1']);
  const { headers, body } = framing(g, false);
  const host = g.chance(0.95) ? [`Host: ${g.pick(['example.com', 'a.test:8080', '127.0.0.1'])}`] : [];
  return Buffer.from(`${method} ${target} ${version}\r\n${headerLines(g, [...host, ...headers])}\r\n${body}`, 'latin1');
}

export function generateResponse(g: Gen): Buffer {
  const status = g.chance(0.9) ? g.pick([200, 200, 201, 204, 301, 304, 404, 500, 103]) : g.pick([99, 600, 1000, 20]);
  const reason = g.chance(0.9) ? g.pick([' OK', ' Not Found', '', ' ', ' Weird\tReason']) : g.pick([' Bad\x01', ' \x80x']);
  const version = g.chance(0.9) ? 'HTTP/1.1' : g.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ']);
  const { headers, body } = framing(g, status < 200 || status === 204 || status === 304);
  const trailing = headers.length === 0 && g.chance(0.3) ? g.text('abc', 0, 10) : '';
  return Buffer.from(`${version} ${status}${reason}\r\n${headerLines(g, headers)}\r\n${body}${trailing}`, 'latin1');
}

const SMUGGLERS = ['Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 1, 2\r\n', 'Transfer-Encoding: gzip, chunked\r\n', ' folded\r\n', 'Content-Length: -1\r\n', 'Host: other\r\n', 'X: a\rb\r\n', 'X: a\nb\r\n', 'Bad Name: x\r\n', 'Content-Length : 3\r\n'];

/** A random edit: a byte replaced, inserted or removed, or a header line that makes framing ambiguous. */
export function mutate(g: Gen, input: Buffer): Buffer {
  const s = input.toString('latin1');
  const at = g.int(s.length + 1);
  switch (g.int(5)) {
    case 0:
      return Buffer.from(s.slice(0, at) + g.pick([...ODD_CHARS, 'a', '0', 'F']) + s.slice(at + 1), 'latin1');
    case 1:
      return Buffer.from(s.slice(0, at) + g.pick([...ODD_CHARS, '\r\n', 'g']) + s.slice(at), 'latin1');
    case 2:
      return Buffer.from(s.slice(0, at) + s.slice(at + 1 + g.int(3)), 'latin1');
    default: {
      const line = s.indexOf('\r\n') + 2;
      return Buffer.from(s.slice(0, line) + g.pick(SMUGGLERS) + s.slice(line), 'latin1');
    }
  }
}

export type Outcome = { kind: 'ok'; message: ParsedMessage; consumed: number } | { kind: 'refused' | 'incomplete'; reason?: string };

export function lbRequest(input: Buffer): Outcome {
  const head = parseRequestHead(input, 0, input.length);
  if (head === DEFER) return { kind: 'refused', reason: 'deferred' };
  if (head === INCOMPLETE) return { kind: 'incomplete' };
  const message: ParsedMessage = { method: head.method, url: head.url, versionMinor: head.versionMinor, rawHeaders: head.rawHeaders, keepAlive: head.keepAlive, body: Buffer.alloc(0), complete: true };
  return lbBody(input, head.headBytes, head.contentLength, message);
}

export function lbResponse(input: Buffer, headRequest: boolean): Outcome & { untilClose?: boolean } {
  let head;
  try {
    head = parseResponseHead(input, 0, input.length, headRequest);
  } catch (err) {
    return { kind: 'refused', reason: (err as Error).message };
  }
  if (!head) return { kind: 'incomplete' };
  const message: ParsedMessage = { status: head.status, statusText: head.statusText, versionMinor: head.versionMinor, rawHeaders: head.rawHeaders, keepAlive: head.keepAlive, body: Buffer.alloc(0), complete: true };
  if (head.bodyLength === UNTIL_CLOSE) return { kind: 'ok', message: { ...message, body: input.subarray(head.headBytes) }, consumed: input.length, untilClose: true };
  return lbBody(input, head.headBytes, head.bodyLength === CHUNKED ? -1 : head.bodyLength, message);
}

/** Reads the body after the head; chunked bodies are fed in random-sized pieces. */
export function lbBody(input: Buffer, offset: number, length: number, message: ParsedMessage, split = 7): Outcome {
  if (length >= 0) {
    if (input.length - offset < length) return { kind: 'incomplete' };
    return { kind: 'ok', message: { ...message, body: input.subarray(offset, offset + length) }, consumed: offset + length };
  }
  const parts: Buffer[] = [];
  const decoder = new ChunkedDecoder((chunk) => parts.push(Buffer.from(chunk)));
  let at = offset;
  try {
    while (at < input.length && !decoder.done) {
      const piece = Math.min(input.length, at + 1 + ((at * 31) % split));
      at = decoder.feed(input, at, piece);
    }
  } catch (err) {
    return { kind: 'refused', reason: (err as Error).message };
  }
  if (!decoder.done) return { kind: 'incomplete' };
  return { kind: 'ok', message: { ...message, body: Buffer.concat(parts) }, consumed: at };
}

/**
 * The fields to compare. Keep-alive may differ one way only: lb may close a connection that llhttp
 * would keep (`close` always wins in lb; in HTTP/1.0 llhttp lets `keep-alive` win). And lb trims
 * whitespace around Connection tokens as RFC 9110 says, llhttp does not (`Connection: close\t`),
 * so keep-alive is not compared where such whitespace is. Where a message ends never depends on it.
 */
export function comparable(message: ParsedMessage, input: Buffer, oursKeepAlive: boolean): object {
  const padded = /connection:[^\r]*[ \t]\r\n/i.test(input.toString('latin1'));
  return { ...message, keepAlive: padded || (message.keepAlive && oursKeepAlive), body: message.body.toString('latin1') };
}

export function assertSameAsLlhttp(kind: 'request' | 'response', input: Buffer, ours: Extract<Outcome, { kind: 'ok' }>, options: { headRequest?: boolean; eof?: boolean } = {}, note = ''): void {
  const theirs = llhttp(kind, input.subarray(0, ours.consumed), options);
  const context = `${kind} ${JSON.stringify(input.toString('latin1'))}${note}`;
  assert.equal(theirs.error, undefined, `lb accepted what llhttp refuses: ${context}`);
  const last = theirs.messages.at(-1);
  assert.ok(last?.complete, `llhttp did not see a whole message where lb did: ${context}`);
  assert.deepEqual(comparable(last, input, ours.message.keepAlive), comparable(ours.message, input, true), context);
}
