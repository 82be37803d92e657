import { HttpSyntaxError } from '../../errors.js';
import { classifyName, CR, FIELD_VALUE, HEX, HOP_BY_HOP_NAMES, LF, MAX_HEAD_BYTES, Name, parseFieldLines, TOKEN } from './syntax.js';

const enum State {
  Size,
  SizeLine,
  Data,
  DataCR,
  DataLF,
  Trailers,
  Done,
}

/** Hex digits allowed in a chunk size: 2^52 is far beyond any real chunk and stays exact. */
const MAX_SIZE_DIGITS = 13;

/**
 * Validates a chunked body (RFC 9112 §7.1) as it streams past, so that it can be relayed as is.
 * `onData` receives the payload bytes (chunk data only), for callers that must decode. Chunk
 * extensions must be `;token[=token]`; trailers follow the rules of header fields. Anything else
 * throws an HttpSyntaxError, like llhttp's HPE_INVALID_CHUNK_SIZE and friends.
 */
export class ChunkedDecoder {
  private state = State.Size;
  private remaining = 0;
  private digits = 0;
  /** The line being read (size line or trailers), when it spans several reads. */
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** How much of CR LF CR LF the trailer section has matched so far. */
  private crlfSeen = 0;

  constructor(private readonly onData?: (chunk: Buffer) => void) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /** Consumes bytes from `start`; returns where the body ended, or `end` when it goes on. */
  feed(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case State.Size: {
          const b = buf[i]!;
          if (HEX[b] === 1) {
            if (++this.digits > MAX_SIZE_DIGITS) throw new HttpSyntaxError('chunk size too large');
            this.remaining = this.remaining * 16 + hexValue(b);
            i++;
            break;
          }
          if (this.digits === 0) throw new HttpSyntaxError('invalid chunk size');
          this.state = State.SizeLine;
          break;
        }
        case State.SizeLine: {
          const lf = buf.indexOf(LF, i);
          if (this.lineBytes === 0 && lf >= 0 && lf < end) {
            // The whole line is in this buffer (the usual case): checked in place, not copied.
            if (lf + 1 - i > MAX_HEAD_BYTES) throw new HttpSyntaxError('chunk line or trailers too large');
            this.endSizeLine(buf, i, lf + 1);
            i = lf + 1;
            break;
          }
          const stop = lf < 0 || lf >= end ? end : lf + 1;
          this.collect(buf, i, stop);
          i = stop;
          if (stop === lf + 1) {
            const line = this.takeLine();
            this.endSizeLine(line, 0, line.length);
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, end - i);
          if (take > 0) this.onData?.(buf.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.DataCR;
          break;
        }
        case State.DataCR:
          if (buf[i++] !== CR) throw new HttpSyntaxError('missing CRLF after chunk data');
          this.state = State.DataLF;
          break;
        case State.DataLF:
          if (buf[i++] !== LF) throw new HttpSyntaxError('missing CRLF after chunk data');
          this.state = State.Size;
          break;
        case State.Trailers: {
          // Trailers are rare and short: scan byte by byte for the CRLF CRLF that ends them (the
          // size line's CRLF counts as the first half).
          const from = i;
          while (i < end && this.crlfSeen < 4) {
            const b = buf[i++];
            if (b === (this.crlfSeen % 2 === 0 ? CR : LF)) this.crlfSeen++;
            else this.crlfSeen = b === CR ? 1 : 0;
          }
          this.collect(buf, from, i);
          if (this.crlfSeen === 4) {
            const block = this.takeLine();
            if (block.length > 2) checkTrailers(block);
            this.state = State.Done;
            return i;
          }
          break;
        }
        case State.Done:
          return i;
      }
    }
    return i;
  }

  private collect(buf: Buffer, start: number, stop: number): void {
    this.lineBytes += stop - start;
    if (this.lineBytes > MAX_HEAD_BYTES) throw new HttpSyntaxError('chunk line or trailers too large');
    // Copied: the line may span reads, and the caller's buffer may be reused.
    this.line.push(Buffer.from(buf.subarray(start, stop)));
  }

  private takeLine(): Buffer {
    const line = this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line);
    this.line = [];
    this.lineBytes = 0;
    return line;
  }

  /** After the size digits: extensions, then CRLF (the line is line[start, stop), LF included). */
  private endSizeLine(line: Buffer, start: number, stop: number): void {
    const end = stop - 2;
    if (end < start || line[end] !== CR) throw new HttpSyntaxError('bare LF in a chunk size line');
    let i = start;
    while (i < end) {
      if (line[i] !== 0x3b) throw new HttpSyntaxError('invalid chunk size');
      const nameStart = ++i;
      while (TOKEN[line[i]!] === 1) i++;
      if (i === nameStart) throw new HttpSyntaxError('invalid chunk extension');
      if (line[i] === 0x3d) {
        const valueStart = ++i;
        while (TOKEN[line[i]!] === 1) i++;
        if (i === valueStart) throw new HttpSyntaxError('invalid chunk extension');
      }
    }
    this.digits = 0;
    if (this.remaining === 0) {
      this.state = State.Trailers;
      this.crlfSeen = 2;
    } else {
      this.state = State.Data;
    }
  }
}

/**
 * Trailers follow the rules of header fields, and may not frame the message (RFC 9110 §6.5.1):
 * llhttp refuses a Content-Length or Transfer-Encoding there, and a server that merges trailers
 * into the headers could read one as the framing of the next message.
 */
function checkTrailers(block: Buffer): void {
  const offsets: number[] = [];
  parseFieldLines(block, 0, block.length, offsets);
  for (let f = 0; f < offsets.length; f += 4) {
    const kind = classifyName(block, offsets[f]!, offsets[f + 1]!);
    if (kind === Name.ContentLength || kind === Name.TransferEncoding) throw new HttpSyntaxError('Content-Length or Transfer-Encoding in the trailers');
  }
}

function hexValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x57;
}

/** Fields that frame the message, route it or belong to one connection: never a trailer lb writes. */
const notTrailers: ReadonlySet<string> = new Set([...HOP_BY_HOP_NAMES, 'content-length', 'host']);

function isFieldText(text: string, bytes: Uint8Array): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff || !bytes[code]) return false;
  }
  return true;
}

/**
 * Trailers of an HTTP/2 server ([name, value, ...]) that may go on as HTTP/1.1 trailer fields
 * (RFC 9112 §7.1.2): valid names and values only (nghttp2 checked them already; a field line is
 * never built from unchecked strings), and none that frames the message or the connection.
 */
export function relayableTrailers(trailers: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i]!;
    const value = trailers[i + 1]!;
    if (name.length > 0 && isFieldText(name, TOKEN) && isFieldText(value, FIELD_VALUE) && !notTrailers.has(name.toLowerCase())) out.push([name, value]);
  }
  return out;
}

/** The last chunk, with `trailers` as its trailer section. */
export function lastChunk(trailers: ReadonlyArray<readonly [string, string]>): Buffer {
  let text = '0\r\n';
  for (const [name, value] of trailers) text += `${name}: ${value}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}
