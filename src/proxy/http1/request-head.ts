import { HttpSyntaxError } from '../../errors.js';
import { connectionTokens, CR, HTAB, headEnd, isName, LF, MAX_HEAD_BYTES, parseContentLength, parseFieldLines, SP, TARGET } from './syntax.js';

/**
 * Methods the fast path forwards. Others (CONNECT, WebDAV, PRI ...) go to Node's parser, which
 * knows which of them are valid.
 */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** Headers of which Node keeps the first when repeated (IncomingMessage#headers). */
const firstWins = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent']);

export interface RequestHead {
  method: string;
  /** The origin-form target, as sent. */
  url: string;
  /** 0 or 1 (HTTP/1.0 or HTTP/1.1). */
  versionMinor: number;
  /** [name, value, ...] as sent (names in their case, values trimmed), like Node's rawHeaders. */
  rawHeaders: string[];
  /** The same headers by lower-case name, repeated ones joined as Node joins them. */
  headers: Record<string, string>;
  host: string;
  /** -1 when the body is chunked, otherwise its length (0: no body). */
  contentLength: number;
  keepAlive: boolean;
  /** Bytes of the head, from the request line to its empty line included. */
  headBytes: number;
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
    return parseHead(buf, start, stop);
  } catch (err) {
    if (err instanceof HttpSyntaxError) return DEFER;
    throw err;
  }
}

function parseHead(buf: Buffer, start: number, stop: number): RequestHead | typeof DEFER {
  let i = start;
  while (i < stop && buf[i] !== SP) i++;
  const method = buf.toString('latin1', start, i);
  if (!METHODS.has(method)) return DEFER;
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
  if (buf[i] === SP || buf[i] === HTAB) return DEFER;

  const rawHeaders: string[] = [];
  parseFieldLines(buf, i, stop, rawHeaders);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let host: string | undefined;
  let contentLength = 0;
  let sawLength = false;
  let chunked = false;
  let keepAlive = minor === 1;
  // `close` wins wherever it appears, as in llhttp.
  let close = false;
  for (let h = 0; h < rawHeaders.length; h += 2) {
    const name = rawHeaders[h]!.toLowerCase();
    const value = rawHeaders[h + 1]!;
    switch (name) {
      case 'host':
        if (host !== undefined) return DEFER;
        host = value;
        break;
      case 'content-length':
        if (sawLength) return DEFER;
        sawLength = true;
        contentLength = parseContentLength(value);
        break;
      case 'transfer-encoding':
        if (chunked || !isName(value, 'chunked') || minor === 0) return DEFER;
        chunked = true;
        break;
      case 'connection':
        for (const token of connectionTokens(value)) {
          if (token === 'close') close = true;
          else if (token === 'keep-alive') keepAlive = true;
          else if (token === 'upgrade') return DEFER;
        }
        break;
      case 'upgrade':
      case 'expect':
        return DEFER;
    }
    const prior = headers[name];
    if (prior === undefined) headers[name] = value;
    else if (!firstWins.has(name)) headers[name] = name === 'cookie' ? `${prior}; ${value}` : `${prior}, ${value}`;
  }
  if (host === undefined || (chunked && sawLength)) return DEFER;
  return { method, url, versionMinor: minor, rawHeaders, headers, host, contentLength: chunked ? -1 : contentLength, keepAlive: keepAlive && !close, headBytes: stop - start };
}
