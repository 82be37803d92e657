/** Node reads at most 64 KiB at a time into stream sockets; the same here. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Spare buffers kept for new connections: 4 MiB at most. */
const SPARE_LIMIT = 64;

const spares: Buffer[] = [];

/** The holders of a buffer's chunks that are referenced after the read (ReadBuffer.keep). */
interface Lease {
  readonly buffer: Buffer;
  holders: number;
}

/** What keep() returns to a holder that does not say when it is done. */
export function neverGivenBack(): void {}

/**
 * The buffer a socket reads into with Node's `onread`, reused read after read: a proxy relays most
 * chunks at once, so it need not allocate for every read as a stream socket does (1.4 -> 1.9 GB/s
 * on 1 MiB responses, docs/benchmarks.md). A chunk still queued in a write is `keep()`-ed, and the
 * next read gets a new buffer; a holder that says when it is done with the chunk gives the
 * buffer back for later reads (compress: zlib reads every chunk after the call that lent it). Closed connections return their buffer for the next connection,
 * so that a connection per request does not allocate 64 KiB each (which drove V8 into major GCs).
 */
export class ReadBuffer {
  private buffer: Buffer | undefined;
  /** Set while chunks of `buffer` are held: the next read takes another buffer. */
  private lease: Lease | undefined;

  /** For `onread.buffer`: the buffer for the next read. */
  next(): Buffer {
    if (this.buffer && this.lease === undefined) return this.buffer;
    this.lease = undefined;
    return (this.buffer = spares.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
  }

  /**
   * The last chunk read is still referenced elsewhere: do not read into it again. Returns what
   * the holder calls once it no longer needs the chunk. When every holder has, the buffer goes to
   * the spare pool (the next read has taken another), or, given back before the next read, serves
   * it. A holder that never calls it leaves the buffer to the GC.
   */
  keep(): () => void {
    // A socket that does not read through `next()` (TLS) lends Node's own buffers.
    if (this.buffer === undefined) return neverGivenBack;
    const lease = (this.lease ??= { buffer: this.buffer, holders: 0 });
    lease.holders++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--lease.holders > 0) return;
      if (this.lease === lease) this.lease = undefined;
      else if (spares.length < SPARE_LIMIT) spares.push(lease.buffer);
    };
  }

  /** The socket closed: its buffer may serve another connection, unless a write still holds it. */
  release(): void {
    if (this.buffer && this.lease === undefined && spares.length < SPARE_LIMIT) spares.push(this.buffer);
    this.buffer = undefined;
    this.lease = undefined;
  }
}
