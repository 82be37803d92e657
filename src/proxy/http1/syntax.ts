// Byte classes of HTTP/1.1 (RFC 9110 §5.6, RFC 9112), shared by the request, response and
// chunked-body parsers. Tables, so that each byte costs one array read.
import { HttpSyntaxError } from '../../errors.js';

function table(accept: (byte: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = accept(b) ? 1 : 0;
  return t;
}

/** tchar: the characters of a token (method, header name, chunk extension). */
export const TOKEN = table((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b)));
/** field-vchar, SP and HTAB: what a header value may hold (obs-text included, as llhttp allows). */
export const FIELD_VALUE = table((b) => b === 0x09 || (b >= 0x20 && b <= 0x7e) || b >= 0x80);
/** Visible ASCII: the characters an origin-form request target may hold. */
export const TARGET = table((b) => b > 0x20 && b < 0x7f);
export const HEX = table((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** Heads (request, response, trailers) larger than this are refused, as Node does by default. */
export const MAX_HEAD_BYTES = 16 * 1024;
/**
 * Header fields a request may have (HAProxy's tune.http.maxhdr is 101, Apache's
 * LimitRequestFields 100): more are answered 431. Node's own limit (maxHeadersCount, 2000) drops
 * the fields beyond it without a word, which would forward a request other than the one sent.
 */
export const MAX_REQUEST_FIELDS = 100;

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Where the head that starts at `start` ends (just past its empty line), or -1 when incomplete. */
export function headEnd(buf: Buffer, start: number, end: number): number {
  const at = buf.indexOf(CRLFCRLF, start);
  return at < 0 || at + 4 > end ? -1 : at + 4;
}

/**
 * The header field lines between `start` and `end` (which ends with the empty line), appended to
 * `out` as offsets, four per line: name start and end, value start and end (the value without
 * surrounding whitespace). No string is made here: a proxy copies most lines as they are.
 * Throws on anything RFC 9112 forbids: obs-fold, whitespace before the colon, an empty or
 * non-token name, a control character or bare CR/LF in a value.
 */
export function parseFieldLines(buf: Buffer, start: number, end: number, out: number[]): void {
  let i = start;
  const last = end - 2;
  while (i < last) {
    const nameStart = i;
    while (TOKEN[buf[i]!] === 1) i++;
    if (i === nameStart) {
      const b = buf[i];
      throw new HttpSyntaxError(b === SP || b === HTAB ? 'obs-fold or whitespace before a header name' : 'invalid character in a header name');
    }
    if (buf[i] !== COLON) throw new HttpSyntaxError('invalid character in a header name');
    const nameEnd = i++;
    while (buf[i] === SP || buf[i] === HTAB) i++;
    const valueStart = i;
    let valueEnd = i;
    for (;;) {
      const b = buf[i]!;
      if (b === CR) break;
      if (FIELD_VALUE[b] !== 1) throw new HttpSyntaxError('invalid character in a header value');
      if (b !== SP && b !== HTAB) valueEnd = i + 1;
      i++;
    }
    if (buf[i + 1] !== LF) throw new HttpSyntaxError('bare CR in a header');
    out.push(nameStart, nameEnd, valueStart, valueEnd);
    i += 2;
  }
}

/** Header fields as offsets into the head they were read from (see parseFieldLines). */
export interface Fields {
  readonly buf: Buffer;
  readonly offsets: readonly number[];
}

/** The fields as [name, value, ...] latin1 strings, names as sent (like Node's rawHeaders). */
export function fieldStrings({ buf, offsets }: Fields): string[] {
  const out: string[] = [];
  for (let i = 0; i < offsets.length; i += 4) out.push(buf.toString('latin1', offsets[i], offsets[i + 1]), buf.toString('latin1', offsets[i + 2], offsets[i + 3]));
  return out;
}

/** Header names a proxy acts on, recognised from bytes without making strings. */
export const enum Name {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  Upgrade,
  Expect,
  /** Other hop-by-hop headers (RFC 9110 §7.6.1): Keep-Alive, Proxy-Connection, TE, Trailer. */
  HopByHop,
  /** X-Forwarded-For, -Proto, -Host, -Port, and other X-Forwarded-* names. */
  Forwarded,
}

const NAMES: Array<[string, Name]> = [
  ['host', Name.Host],
  ['content-length', Name.ContentLength],
  ['transfer-encoding', Name.TransferEncoding],
  ['connection', Name.Connection],
  ['upgrade', Name.Upgrade],
  ['expect', Name.Expect],
  ['keep-alive', Name.HopByHop],
  ['proxy-connection', Name.HopByHop],
  ['te', Name.HopByHop],
  ['trailer', Name.HopByHop],
];
/** Hop-by-hop header names (RFC 9110 §7.6.1), lower-case: what stays with one connection. */
export const HOP_BY_HOP_NAMES: readonly string[] = NAMES.filter(([, kind]) => kind === Name.TransferEncoding || kind === Name.Connection || kind === Name.Upgrade || kind === Name.HopByHop).map(([name]) => name);
const NAMES_BY_LENGTH: Array<Array<[Uint8Array, Name]>> = [];
for (const [name, kind] of NAMES) (NAMES_BY_LENGTH[name.length] ??= []).push([Buffer.from(name), kind]);
const FORWARDED_PREFIX = Buffer.from('x-forwarded-');

/** Whether buf[start, end) is `lower` ignoring ASCII case (`lower`: lower-case letters, digits, '-'). */
function equalsLower(buf: Buffer, start: number, lower: Uint8Array, length = lower.length): boolean {
  for (let i = 0; i < length; i++) if ((buf[start + i]! | 0x20) !== lower[i]) return false;
  return true;
}

/** Which header a name between `start` and `end` is. */
export function classifyName(buf: Buffer, start: number, end: number): Name {
  const length = end - start;
  const candidates = NAMES_BY_LENGTH[length];
  if (candidates) for (const [lower, kind] of candidates) if (equalsLower(buf, start, lower)) return kind;
  if (length > FORWARDED_PREFIX.length && equalsLower(buf, start, FORWARDED_PREFIX)) return Name.Forwarded;
  return Name.Other;
}

/** Case-insensitive comparison of a header name with a lower-case constant. */
export function isName(name: string, lower: string): boolean {
  return name.length === lower.length && (name === lower || name.toLowerCase() === lower);
}

/**
 * Whether a framing header's value is followed by a tab before its line ends. llhttp takes only
 * spaces there: it reads `chunked` and a tab as another coding (a request it refuses, a response
 * it reads to the connection's end) and refuses such a Content-Length, so lb refuses them too.
 */
function tabAfter(buf: Buffer, valueEnd: number): boolean {
  for (let i = valueEnd; buf[i] !== CR; i++) if (buf[i] === HTAB) return true;
  return false;
}

/** Whether a Transfer-Encoding value is `chunked` alone (see tabAfter for the whitespace after it). */
export function isChunkedAt(buf: Buffer, valueStart: number, valueEnd: number): boolean {
  return isName(buf.toString('latin1', valueStart, valueEnd), 'chunked') && !tabAfter(buf, valueEnd);
}

/** A Content-Length value in buf[start, end): 1*DIGIT, at most 15 digits so that it stays exact. */
export function contentLengthAt(buf: Buffer, start: number, end: number): number {
  if (end === start || end - start > 15 || tabAfter(buf, end)) throw new HttpSyntaxError('invalid Content-Length');
  let length = 0;
  for (let i = start; i < end; i++) {
    const digit = buf[i]! - 0x30;
    if (digit < 0 || digit > 9) throw new HttpSyntaxError('invalid Content-Length');
    length = length * 10 + digit;
  }
  return length;
}

/** Lower-case tokens of a Connection header. */
export function connectionTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t) tokens.push(t);
  }
  return tokens;
}

const KEEP_ALIVE = Buffer.from('keep-alive');
const TIMEOUT = Buffer.from('timeout');
const COMMA = 0x2c;
const EQUALS = 0x3d;
const CLOSE = Buffer.from('close');
const KEEP_ALIVE_TOKENS: readonly string[] = ['keep-alive'];
const CLOSE_TOKENS: readonly string[] = ['close'];

/**
 * The `timeout` parameter of a Keep-Alive header (`timeout=5, max=100`, RFC 2068 §19.7.1.1), in
 * seconds: how long the server keeps an idle connection open. Undefined when absent or not a number.
 */
export function keepAliveTimeoutAt(buf: Buffer, start: number, end: number): number | undefined {
  let i = start;
  while (i < end) {
    while (i < end && (buf[i] === SP || buf[i] === HTAB || buf[i] === COMMA)) i++;
    if (end - i > TIMEOUT.length && equalsLower(buf, i, TIMEOUT)) {
      let at = i + TIMEOUT.length;
      while (at < end && (buf[at] === SP || buf[at] === HTAB)) at++;
      if (at < end && buf[at] === EQUALS) {
        at++;
        while (at < end && (buf[at] === SP || buf[at] === HTAB)) at++;
        let seconds = 0;
        const digits = at;
        for (; at < end && at - digits < 7 && buf[at]! >= 0x30 && buf[at]! <= 0x39; at++) seconds = seconds * 10 + buf[at]! - 0x30;
        if (at > digits && (at === end || buf[at] === SP || buf[at] === HTAB || buf[at] === COMMA)) return seconds;
      }
    }
    while (i < end && buf[i] !== COMMA) i++;
  }
  return undefined;
}

/** Lower-case tokens of the Connection value in buf[start, end); the usual single ones without a string. */
export function connectionTokensAt(buf: Buffer, start: number, end: number): readonly string[] {
  const length = end - start;
  if (length === KEEP_ALIVE.length && equalsLower(buf, start, KEEP_ALIVE)) return KEEP_ALIVE_TOKENS;
  if (length === CLOSE.length && equalsLower(buf, start, CLOSE)) return CLOSE_TOKENS;
  return connectionTokens(buf.toString('latin1', start, end));
}
