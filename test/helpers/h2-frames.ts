// A raw HTTP/2 client for tests: it writes frames byte by byte (RFC 9113 §4, §6), with HPACK
// literals that are never indexed or Huffman-coded (RFC 7541 §6.2.2), so that it can send what no
// real client library would: bad names, CR/LF/NUL, broken pseudo-headers, floods. It reads the
// frames that come back, without decoding their header blocks.
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first`: the bits above the prefix. */
function hpackInteger(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return Buffer.concat([hpackInteger(bytes.length, 7, 0), bytes]);
}

/** A header block of literal fields without indexing, names and values exactly as given (latin1). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

/** A literal field with incremental indexing (it enters the decoder's dynamic table), then `count` references to it. */
export function indexedRepeats(name: string, value: string, count: number): Buffer {
  // Index 62 is the first dynamic-table entry: the one just added (RFC 7541 §2.3.3).
  const insert = Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]);
  return Buffer.concat([insert, Buffer.alloc(count, hpackInteger(62, 7, 0x80)[0])]);
}

/** A GET's pseudo-headers, as a well-formed client sends them. */
export function getRequest(path = '/', authority = 'app.test'): Array<[string, string]> {
  return [[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', authority]];
}

export class RawH2Client {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: Socket, private readonly ackSettings: boolean) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + length) break;
        const f: Frame = { type: this.buffer[3]!, flags: this.buffer[4]!, stream: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: this.buffer.subarray(9, 9 + length) };
        this.buffer = this.buffer.subarray(9 + length);
        this.frames.push(f);
        if (this.ackSettings && f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK) && !this.closed) this.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /**
   * Connects (TLS with ALPN h2 when `tls`, else h2c with prior knowledge), sends the preface and
   * `settings` (id → value). Server SETTINGS are acknowledged unless `ackSettings` is false.
   */
  static async connect(port: number, options: { tls?: boolean; settings?: Record<number, number>; ackSettings?: boolean } = {}): Promise<RawH2Client> {
    const socket = options.tls ? tlsConnect({ port, host: '127.0.0.1', servername: 'app.test', ALPNProtocols: ['h2'], rejectUnauthorized: false }) : netConnect({ port, host: '127.0.0.1' });
    await once(socket, options.tls ? 'secureConnect' : 'connect');
    const client = new RawH2Client(socket, options.ackSettings ?? true);
    const entries = Object.entries(options.settings ?? {});
    const payload = Buffer.alloc(entries.length * 6);
    entries.forEach(([id, value], i) => {
      payload.writeUInt16BE(Number(id), i * 6);
      payload.writeUInt32BE(value, i * 6 + 2);
    });
    client.send(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0, payload)]));
    return client;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** HEADERS (END_HEADERS, and END_STREAM unless `body` follows) on `stream`. */
  headers(stream: number, fields: ReadonlyArray<readonly [string, string]>, endStream = true): void {
    this.send(frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), stream, headerBlock(fields)));
  }

  data(stream: number, bytes: Buffer, endStream: boolean): void {
    this.send(frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, stream, bytes));
  }

  rst(stream: number, code: number = ErrorCode.CANCEL): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(code);
    this.send(frame(FrameType.RST_STREAM, 0, stream, payload));
  }

  /** The first frame (from now on or already received) that `match` accepts; rejects after `ms` or when the connection closes without one. */
  async waitFor(match: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`connection closed; frames: ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** How the server ended `stream`: its RST_STREAM code, or the GOAWAY code that ended the connection. */
  async streamEnd(stream: number, ms = 5000): Promise<{ rst?: number; goaway?: number; response?: boolean }> {
    const f = await this.waitFor((x) => (x.type === FrameType.RST_STREAM && x.stream === stream) || x.type === FrameType.GOAWAY || (x.type === FrameType.HEADERS && x.stream === stream), ms);
    if (f.type === FrameType.RST_STREAM) return { rst: f.payload.readUInt32BE(0) };
    if (f.type === FrameType.GOAWAY) return { goaway: f.payload.readUInt32BE(4) };
    return { response: true };
  }

  /** Resolves once the server has closed the connection. */
  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the server kept the connection open');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  goAway(): Frame | undefined {
    return this.frames.find((f) => f.type === FrameType.GOAWAY);
  }

  describe(): string {
    return this.frames.map((f) => `${f.type}/${f.flags}@${f.stream}${f.type === FrameType.RST_STREAM ? `:${f.payload.readUInt32BE(0)}` : f.type === FrameType.GOAWAY ? `:${f.payload.readUInt32BE(4)}` : ''}`).join(' ');
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
