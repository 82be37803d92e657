import { once } from 'node:events';
import pino from 'pino';

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
  error: string | undefined;
}

/** How long a line may wait in the buffer when traffic is too low to fill it. */
const FLUSH_EVERY_MS = 1_000;

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
  return `{"time":"${isoNow()}","client":${quote(e.client)},"method":${quote(e.method)},"host":${quote(e.host)},"path":${quote(e.path)},"status":${e.status},"bytesIn":${e.bytesIn},"bytesOut":${e.bytesOut},"durationMs":${e.durationMs},"router":${quote(e.router)},"service":${quote(e.service)},"backend":${quote(e.backend)},"retries":${e.retries}${e.error === undefined ? '' : `,"error":${quote(e.error)}`}}\n`;
}

/**
 * One JSON line per request, written asynchronously through a buffer (pino's sonic-boom), so
 * that a slow disk or pipe does not stall the request path; the buffer is written when it holds
 * 12 KiB, or after a second. The query string is left out of the path, since it often carries
 * tokens.
 */
export class AccessLog {
  private readonly destination: ReturnType<typeof pino.destination>;
  private readonly toStdout: boolean;
  private readonly flusher: NodeJS.Timeout;
  private unflushed = false;

  constructor(path: string | undefined) {
    this.toStdout = path === undefined;
    this.destination = pino.destination({ dest: path ?? 1, sync: false, minLength: 12 * 1024, mkdir: true });
    this.flusher = setInterval(() => {
      if (!this.unflushed) return;
      this.unflushed = false;
      this.destination.flush();
    }, FLUSH_EVERY_MS).unref();
  }

  write(entry: AccessEntry): void {
    this.destination.write(formatAccessEntry(entry));
    this.unflushed = true;
  }

  /** Flushes what is buffered and closes the file (stdout stays open for the other logs). */
  async close(): Promise<void> {
    clearInterval(this.flusher);
    if (this.toStdout) return this.destination.flushSync();
    const closed = once(this.destination, 'close');
    this.destination.end();
    await closed;
  }
}
