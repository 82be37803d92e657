import { HttpSyntaxError } from '../../errors.js';
import { editedFieldStrings, type HeaderEdits } from './header-edits.js';
import { classifyName, connectionTokensAt, contentLengthAt, CR, fieldStrings, headEnd, isChunkedAt, keepAliveTimeoutAt, LF, MAX_HEAD_BYTES, Name, parseFieldLines, SP, type Fields } from './syntax.js';

/** A backend's response head: its bytes, and offsets of its header fields. */
export class ResponseHead implements Fields {
  private rawCache: string[] | undefined;

  constructor(
    /** The head's bytes, status line to empty line. */
    readonly buf: Buffer,
    readonly status: number,
    /** Where the reason phrase is in `buf` (read only when an HTTP/1.0 status line is rewritten). */
    private readonly textStart: number,
    private readonly textEnd: number,
    readonly versionMinor: number,
    /** Where the status line ends (after its CRLF). */
    readonly statusLineEnd: number,
    readonly offsets: number[],
    /** -1: chunked; -2: until the connection closes; otherwise the Content-Length. */
    readonly bodyLength: number,
    /** Whether the backend keeps the connection open after this response. */
    readonly keepAlive: boolean,
    /** Lower-case names the Connection header lists besides close and keep-alive. */
    readonly connectionNamed: readonly string[] | undefined,
    /** The `timeout` of the server's Keep-Alive header, in seconds: how long it keeps an idle connection. */
    readonly keepAliveTimeoutS: number | undefined,
    /**
     * A router's response edits (middlewares), applied when the head is copied out
     * (downstreamResponseHead) or read as strings (rawHeaders), not to `buf`. What the head says
     * of the body and the connection stays as the server said it.
     */
    readonly edits: HeaderEdits | undefined,
  ) {}

  get statusText(): string {
    return this.buf.toString('latin1', this.textStart, this.textEnd);
  }

  get headBytes(): number {
    return this.buf.length;
  }

  /** [name, value, ...] as sent (names in their case, values trimmed), after the edits. */
  get rawHeaders(): string[] {
    return (this.rawCache ??= this.edits === undefined ? fieldStrings(this) : editedFieldStrings(this, this.edits));
  }
}

export const CHUNKED = -1;
export const UNTIL_CLOSE = -2;
/** Of the hop-by-hop names (Keep-Alive, Proxy-Connection, TE, Trailer), only Keep-Alive is 10 bytes long. */
const KEEP_ALIVE_NAME_LENGTH = 'keep-alive'.length;

/**
 * Parses a backend's response head at `start`; null while incomplete. Strict where a response
 * could be read two ways: one Content-Length at most, Transfer-Encoding only as `chunked` and
 * never with Content-Length, no obs-fold, no bare CR or LF, a three-digit status.
 * `noBody`: the request was HEAD, so whatever the head says, no body follows.
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, noBody: boolean, edits?: HeaderEdits): ResponseHead | null {
  const stop = headEnd(buf, start, end);
  if (stop < 0) {
    if (end - start > MAX_HEAD_BYTES) throw new HttpSyntaxError('response head larger than 16 KiB');
    return null;
  }
  if (stop - start > MAX_HEAD_BYTES) throw new HttpSyntaxError('response head larger than 16 KiB');
  return parseHead(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop), noBody, edits);
}

function parseHead(buf: Buffer, noBody: boolean, edits: HeaderEdits | undefined): ResponseHead {
  const stop = buf.length;
  let i = 0;
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
  let textStart = i;
  if (buf[i] === SP) {
    textStart = ++i;
    while (buf[i] !== CR) {
      const b = buf[i]!;
      if (b !== 0x09 && (b < 0x20 || b === 0x7f)) throw new HttpSyntaxError('invalid character in the reason phrase');
      i++;
    }
  }
  const textEnd = i;
  if (buf[i] !== CR || buf[i + 1] !== LF) throw new HttpSyntaxError('invalid status line');
  i += 2;

  const statusLineEnd = i;
  const offsets: number[] = [];
  parseFieldLines(buf, i, stop, offsets);
  let length: number | undefined;
  let chunked = false;
  let keepAlive = minor === 1;
  // `close` wins wherever it appears, as in llhttp.
  let close = false;
  let named: string[] | undefined;
  let keepAliveTimeoutS: number | undefined;
  for (let f = 0; f < offsets.length; f += 4) {
    const kind = classifyName(buf, offsets[f]!, offsets[f + 1]!);
    if (kind === Name.Other) continue;
    const valueStart = offsets[f + 2]!;
    const valueEnd = offsets[f + 3]!;
    if (kind === Name.ContentLength) {
      if (length !== undefined) throw new HttpSyntaxError('more than one Content-Length');
      length = contentLengthAt(buf, valueStart, valueEnd);
    } else if (kind === Name.TransferEncoding) {
      if (chunked || !isChunkedAt(buf, valueStart, valueEnd)) throw new HttpSyntaxError('Transfer-Encoding other than chunked');
      chunked = true;
    } else if (kind === Name.Connection) {
      for (const token of connectionTokensAt(buf, valueStart, valueEnd)) {
        if (token === 'close') close = true;
        else if (token === 'keep-alive') keepAlive = true;
        else (named ??= []).push(token);
      }
    } else if (kind === Name.HopByHop && offsets[f + 1]! - offsets[f]! === KEEP_ALIVE_NAME_LENGTH) {
      keepAliveTimeoutS = keepAliveTimeoutAt(buf, valueStart, valueEnd);
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
  return new ResponseHead(buf, status, textStart, textEnd, minor, statusLineEnd, offsets, bodyLength, keepAlive, named, keepAliveTimeoutS, edits);
}
