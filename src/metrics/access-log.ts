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

/**
 * One JSON line per request, written asynchronously through a buffer (pino with sonic-boom), so
 * that a slow disk or pipe does not stall the request path. The query string is left out of the
 * path, since it often carries tokens.
 */
export class AccessLog {
  private readonly destination: ReturnType<typeof pino.destination>;
  private readonly toStdout: boolean;

  constructor(path: string | undefined) {
    this.toStdout = path === undefined;
    this.destination = pino.destination({ dest: path ?? 1, sync: false, minLength: 4096, mkdir: true });
  }

  write(entry: AccessEntry): void {
    this.destination.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }

  /** Flushes what is buffered and closes the file (stdout stays open for the other logs). */
  async close(): Promise<void> {
    if (this.toStdout) return this.destination.flushSync();
    const closed = once(this.destination, 'close');
    this.destination.end();
    await closed;
  }
}
