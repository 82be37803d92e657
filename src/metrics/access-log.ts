import { once } from 'node:events';
import pino from 'pino';
import type { Termination } from '../errors.js';

export interface AccessEntry {
  client: string;
  method: string;
  host: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  router: string;
  service: string;
  backend: string;
  retries: number;
  /** Who ended the exchange and when (docs/metrics.md#termination): a fixed two-character code, never escaped. */
  termination: Termination;
  error: string | undefined;
  /** The TLS version of the client connection (https entrypoints). */
  tls?: string | undefined;
  /** The verified client certificate's subject (clientAuth). */
  tlsClientSubject?: string | undefined;
  /** The user a middleware authenticated (basicAuth). */
  user?: string;
}

/** How long a line may wait in the buffer when traffic is too low to fill it. */
const FLUSH_EVERY_MS = 1_000;
/** Lines are handed to the file in batches of about this many characters. */
const BATCH_CHARS = 12 * 1024;

/** Printable ASCII without `"` and `\`: strings that need no JSON escaping. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function quote(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}

let lastMs = 0;
let lastIso = '';

/** The time as ISO 8601, formatted once per millisecond. */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** One entry as a JSON line, written field by field: a third of the cost of JSON.stringify. */
export function formatAccessEntry(e: AccessEntry): string {
  return `{"time":"${isoNow()}","client":${quote(e.client)},"method":${quote(e.method)},"host":${quote(e.host)},"path":${quote(e.path)},"status":${e.status},"bytesIn":${e.bytesIn},"bytesOut":${e.bytesOut},"durationMs":${e.durationMs},"router":${quote(e.router)},"service":${quote(e.service)},"backend":${quote(e.backend)},"retries":${e.retries},"termination":"${e.termination}"${e.error === undefined ? '' : `,"error":${quote(e.error)}`}${e.tls === undefined ? '' : `,"tls":${quote(e.tls)}${e.tlsClientSubject === undefined ? '' : `,"tlsClientSubject":${quote(e.tlsClientSubject)}`}`}${e.user === undefined ? '' : `,"user":${quote(e.user)}`}}\n`;
}

/**
 * One JSON line per request, written asynchronously (pino's sonic-boom), so that a slow disk or
 * pipe does not stall the request path. Lines are joined here and handed over in batches of
 * 12 KiB, or after a second: sonic-boom measures the UTF-8 length of its whole pending buffer on
 * every write, which cost more than formatting the line (docs/benchmarks.md). The query string is
 * left out of the path, since it often carries tokens.
 */
export class AccessLog {
  private readonly destination: ReturnType<typeof pino.destination>;
  private readonly toStdout: boolean;
  private readonly flusher: NodeJS.Timeout;
  private batch = '';
  private unflushed = false;
  /** A process that exits without close() (a second signal, a lost primary) still writes its lines. */
  private readonly onExit = (): void => {
    this.handOver();
    try {
      this.destination.flushSync();
    } catch {
      // Exiting: nowhere left to report a failed write.
    }
  };

  constructor(path: string | undefined) {
    this.toStdout = path === undefined;
    // minLength keeps the lines in sonic-boom's buffer between writes, where flushSync() reaches them.
    this.destination = pino.destination({ dest: path ?? 1, sync: false, minLength: BATCH_CHARS, mkdir: true });
    this.flusher = setInterval(() => {
      this.handOver();
      if (!this.unflushed) return;
      this.unflushed = false;
      this.destination.flush();
    }, FLUSH_EVERY_MS).unref();
    process.once('exit', this.onExit);
  }

  write(entry: AccessEntry): void {
    this.batch += formatAccessEntry(entry);
    if (this.batch.length >= BATCH_CHARS) this.handOver();
  }

  private handOver(): void {
    if (this.batch === '') return;
    this.destination.write(this.batch);
    this.batch = '';
    this.unflushed = true;
  }

  /** Writes what is batched and closes the file (stdout stays open for the other logs). */
  async close(): Promise<void> {
    clearInterval(this.flusher);
    process.off('exit', this.onExit);
    this.handOver();
    if (this.toStdout) return this.destination.flushSync();
    const closed = once(this.destination, 'close');
    this.destination.end();
    await closed;
  }
}
