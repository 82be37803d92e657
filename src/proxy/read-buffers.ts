/** Node reads at most 64 KiB at a time into stream sockets; the same here. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Spare buffers kept for new connections: 4 MiB at most. */
const SPARE_LIMIT = 64;

const spares: Buffer[] = [];

/**
 * The buffer a socket reads into with Node's `onread`, reused read after read: a proxy relays most
 * chunks at once, so it need not allocate for every read as a stream socket does (1.4 -> 1.9 GB/s
 * on 1 MiB responses, docs/benchmarks.md). A chunk still queued in a write is `keep()`-ed, and the
 * next read gets a new buffer. Closed connections return their buffer for the next connection,
 * so that a connection per request does not allocate 64 KiB each (which drove V8 into major GCs).
 */
export class ReadBuffer {
  private buffer: Buffer | undefined;
  private kept = false;

  /** For `onread.buffer`: the buffer for the next read. */
  next(): Buffer {
    if (this.buffer && !this.kept) return this.buffer;
    this.kept = false;
    return (this.buffer = spares.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
  }

  /** The last chunk read is still referenced elsewhere: do not read into it again. */
  keep(): void {
    this.kept = true;
  }

  /** The socket closed: its buffer may serve another connection, unless a write still holds it. */
  release(): void {
    if (this.buffer && !this.kept && spares.length < SPARE_LIMIT) spares.push(this.buffer);
    this.buffer = undefined;
  }
}
