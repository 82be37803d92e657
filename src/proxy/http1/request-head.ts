import { HttpSyntaxError } from '../../errors.js';
import { classifyName, connectionTokensAt, contentLengthAt, CR, fieldStrings, HTAB, headEnd, isChunkedAt, LF, MAX_HEAD_BYTES, MAX_REQUEST_FIELDS, Name, parseFieldLines, SP, TARGET, type Fields } from './syntax.js';

/**
 * Methods the fast path forwards, as constant strings (a request's method costs no new string).
 * Others (CONNECT, WebDAV, PRI ...) go to Node's parser, which knows which of them are valid.
 */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'].map((name) => ({ name, bytes: Buffer.from(`${name} `) }));

/** The method that starts `buf`, followed by a space; undefined for any other. */
function methodAt(buf: Buffer): string | undefined {
  next: for (const { name, bytes } of METHODS) {
    if (buf.length <= bytes.length) continue;
    for (let i = 0; i < bytes.length; i++) if (buf[i] !== bytes[i]) continue next;
    return name;
  }
  return undefined;
}

/** Headers of which Node keeps the first when repeated (IncomingMessage#headers). */
const firstWins = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent']);

/** A request head as the fast path read it: the bytes, and offsets of its header fields. */
export class RequestHead implements Fields {
  private rawCache: string[] | undefined;
  private recordCache: Record<string, string> | undefined;

  constructor(
    /** The head's bytes, from the request line to its empty line included. */
    readonly buf: Buffer,
    readonly method: string,
    /** The origin-form target, as sent. */
    readonly url: string,
    /** 0 or 1 (HTTP/1.0 or HTTP/1.1). */
    readonly versionMinor: number,
    /** Where the request line ends (after its CRLF). */
    readonly requestLineEnd: number,
    readonly offsets: number[],
    readonly host: string,
    /** -1 when the body is chunked, otherwise its length (0: no body). */
    readonly contentLength: number,
    readonly keepAlive: boolean,
    /** Lower-case names the Connection header lists besides close and keep-alive (hop-by-hop too). */
    readonly connectionNamed: readonly string[] | undefined,
  ) {}

  get headBytes(): number {
    return this.buf.length;
  }

  /** [name, value, ...] as sent (names in their case, values trimmed), like Node's rawHeaders. */
  get rawHeaders(): string[] {
    return (this.rawCache ??= fieldStrings(this));
  }

  /** The headers by lower-case name, repeated ones joined as Node joins them. Made on first use. */
  get headers(): Record<string, string> {
    if (this.recordCache) return this.recordCache;
    const record = Object.create(null) as Record<string, string>;
    const raw = this.rawHeaders;
    for (let h = 0; h < raw.length; h += 2) {
      const name = raw[h]!.toLowerCase();
      const value = raw[h + 1]!;
      const prior = record[name];
      if (prior === undefined) record[name] = value;
      else if (!firstWins.has(name)) record[name] = name === 'cookie' ? `${prior}; ${value}` : `${prior}, ${value}`;
    }
    return (this.recordCache = record);
  }
}

/** Returned when the fast path leaves the request to Node's own parser (llhttp). */
export const DEFER = Symbol('defer');
export const INCOMPLETE = Symbol('incomplete');

/**
 * Parses one request head at `start`. The fast path accepts only a strict, common subset of
 * HTTP/1.1: a known method, an origin-form target, HTTP/1.0 or 1.1, token header names, one Host,
 * at most one valid Content-Length or `Transfer-Encoding: chunked` (never both), no Upgrade or
 * Expect. Anything else, valid or not, returns DEFER, and Node's llhttp answers it: so this parser
 * never accepts what llhttp would refuse (test/http1-differential.test.ts checks that).
 */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | typeof DEFER | typeof INCOMPLETE {
  const stop = headEnd(buf, start, Math.min(end, start + MAX_HEAD_BYTES));
  if (stop < 0) return end - start >= MAX_HEAD_BYTES ? DEFER : INCOMPLETE;
  try {
    return parseHead(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
  } catch (err) {
    if (err instanceof HttpSyntaxError) return DEFER;
    throw err;
  }
}

function parseHead(buf: Buffer): RequestHead | typeof DEFER {
  const stop = buf.length;
  const method = methodAt(buf);
  if (method === undefined) return DEFER;
  let i = method.length;
  const targetStart = ++i;
  if (buf[i] !== 0x2f) return DEFER; // origin-form only: '/'
  while (TARGET[buf[i]!] === 1) i++;
  if (buf[i] !== SP) return DEFER;
  const url = buf.toString('latin1', targetStart, i);
  i++;
  // "HTTP/1.x\r\n"
  if (buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 || buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e) return DEFER;
  const minor = buf[i + 7]! - 0x30;
  if ((minor !== 0 && minor !== 1) || buf[i + 8] !== CR || buf[i + 9] !== LF) return DEFER;
  i += 10;
  const requestLineEnd = i;
  if (buf[i] === SP || buf[i] === HTAB) return DEFER;

  const offsets: number[] = [];
  parseFieldLines(buf, i, stop, offsets);
  if (offsets.length > MAX_REQUEST_FIELDS * 4) return DEFER;
  let host: string | undefined;
  let contentLength = 0;
  let sawLength = false;
  let chunked = false;
  let keepAlive = minor === 1;
  // `close` wins wherever it appears, as in llhttp.
  let close = false;
  let named: string[] | undefined;
  for (let f = 0; f < offsets.length; f += 4) {
    switch (classifyName(buf, offsets[f]!, offsets[f + 1]!)) {
      case Name.Other:
        continue;
      case Name.Host:
        if (host !== undefined) return DEFER;
        host = buf.toString('latin1', offsets[f + 2], offsets[f + 3]);
        break;
      case Name.ContentLength:
        if (sawLength) return DEFER;
        sawLength = true;
        contentLength = contentLengthAt(buf, offsets[f + 2]!, offsets[f + 3]!);
        break;
      case Name.TransferEncoding:
        if (chunked || !isChunkedAt(buf, offsets[f + 2]!, offsets[f + 3]!) || minor === 0) return DEFER;
        chunked = true;
        break;
      case Name.Connection:
        for (const token of connectionTokensAt(buf, offsets[f + 2]!, offsets[f + 3]!)) {
          if (token === 'close') close = true;
          else if (token === 'keep-alive') keepAlive = true;
          else if (token === 'upgrade') return DEFER;
          else (named ??= []).push(token);
        }
        break;
      case Name.Upgrade:
      case Name.Expect:
        return DEFER;
      case Name.Forwarded:
      case Name.HopByHop:
        break;
    }
  }
  if (host === undefined || (chunked && sawLength)) return DEFER;
  return new RequestHead(buf, method, url, minor, requestLineEnd, offsets, host, chunked ? -1 : contentLength, keepAlive && !close, named);
}
