import { HttpSyntaxError } from '../../errors.js';
import { connectionTokens, CR, headEnd, LF, MAX_HEAD_BYTES, parseContentLength, parseFieldLines, SP } from './syntax.js';

export interface ResponseHead {
  status: number;
  statusText: string;
  versionMinor: number;
  /** [name, value, ...] as sent (names in their case, values trimmed). */
  rawHeaders: string[];
  /** -1: chunked; -2: until the connection closes; otherwise the Content-Length. */
  bodyLength: number;
  /** Whether the backend keeps the connection open after this response. */
  keepAlive: boolean;
  headBytes: number;
}

export const CHUNKED = -1;
export const UNTIL_CLOSE = -2;

/**
 * Parses a backend's response head at `start`; null while incomplete. Strict where a response
 * could be read two ways: one Content-Length at most, Transfer-Encoding only as `chunked` and
 * never with Content-Length, no obs-fold, no bare CR or LF, a three-digit status.
 * `noBody`: the request was HEAD, so whatever the head says, no body follows.
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, noBody: boolean): ResponseHead | null {
  const stop = headEnd(buf, start, end);
  if (stop < 0) {
    if (end - start > MAX_HEAD_BYTES) throw new HttpSyntaxError('response head larger than 16 KiB');
    return null;
  }
  if (stop - start > MAX_HEAD_BYTES) throw new HttpSyntaxError('response head larger than 16 KiB');
  let i = start;
  // "HTTP/1.x NNN"
  if (buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 || buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e) throw new HttpSyntaxError('invalid HTTP version in the status line');
  const minor = buf[i + 7]! - 0x30;
  if ((minor !== 0 && minor !== 1) || buf[i + 8] !== SP) throw new HttpSyntaxError('invalid HTTP version in the status line');
  i += 9;
  const d0 = buf[i]! - 0x30;
  const d1 = buf[i + 1]! - 0x30;
  const d2 = buf[i + 2]! - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw new HttpSyntaxError('invalid status code');
  const status = d0 * 100 + d1 * 10 + d2;
  i += 3;
  let statusText = '';
  if (buf[i] === SP) {
    const textStart = ++i;
    while (buf[i] !== CR) {
      const b = buf[i]!;
      if (b !== 0x09 && (b < 0x20 || b === 0x7f)) throw new HttpSyntaxError('invalid character in the reason phrase');
      i++;
    }
    statusText = buf.toString('latin1', textStart, i);
  }
  if (buf[i] !== CR || buf[i + 1] !== LF) throw new HttpSyntaxError('invalid status line');
  i += 2;

  const rawHeaders: string[] = [];
  parseFieldLines(buf, i, stop, rawHeaders);
  let length: number | undefined;
  let chunked = false;
  let keepAlive = minor === 1;
  // `close` wins wherever it appears, as in llhttp.
  let close = false;
  for (let h = 0; h < rawHeaders.length; h += 2) {
    const name = rawHeaders[h]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (length !== undefined) throw new HttpSyntaxError('more than one Content-Length');
      length = parseContentLength(rawHeaders[h + 1]!);
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      if (chunked || rawHeaders[h + 1]!.toLowerCase() !== 'chunked') throw new HttpSyntaxError('Transfer-Encoding other than chunked');
      chunked = true;
    } else if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of connectionTokens(rawHeaders[h + 1]!)) {
        if (token === 'close') close = true;
        else if (token === 'keep-alive') keepAlive = true;
      }
    }
  }
  if (chunked && length !== undefined) throw new HttpSyntaxError('both Content-Length and Transfer-Encoding');
  const bodiless = status < 200 || status === 204 || status === 304;
  // Without framing a body would run to the end of the connection: even after HEAD, where no body
  // follows, such a backend is not trusted to keep the connection usable (llhttp agrees).
  if (close || (!bodiless && !chunked && length === undefined)) keepAlive = false;
  let bodyLength: number;
  if (noBody || bodiless) bodyLength = 0;
  else if (chunked) bodyLength = CHUNKED;
  else if (length !== undefined) bodyLength = length;
  else bodyLength = UNTIL_CLOSE;
  return { status, statusText, versionMinor: minor, rawHeaders, bodyLength, keepAlive, headBytes: stop - start };
}
