import pino, { type Logger } from 'pino';

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
  private readonly logger: Logger;

  constructor(path: string | undefined) {
    this.destination = pino.destination({ dest: path ?? 1, sync: false, minLength: 4096, mkdir: true });
    this.logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: () => ({}) } }, this.destination);
  }

  write(entry: AccessEntry): void {
    this.logger.info(entry);
  }

  close(): void {
    this.destination.flushSync();
    this.destination.end();
  }
}
