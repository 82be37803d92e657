// What the Docker and Swarm providers share about the engine's API: the event stream read line by
// line, and a session that is set up again, with capped exponential backoff, whenever it ends.
import { setTimeout as delay } from 'node:timers/promises';
import type { LbError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { DockerEvent } from './client.js';

const maxBackoffMs = 30_000;

/** Calls `onEvent` for each event of the stream (one JSON object per line) until it ends. */
export async function readEvents(stream: NodeJS.ReadableStream, signal: AbortSignal, onEvent: (event: DockerEvent) => void): Promise<void> {
  try {
    let buffered = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buffered += chunk.toString('utf8');
      let newline: number;
      // One chunk may hold several events, or part of one.
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) onEvent(JSON.parse(line) as DockerEvent);
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

export interface Session {
  /** Logged with "connected": the version, what the first sync found. */
  fields: Record<string, unknown>;
  /** Follows the engine until the stream ends or fails. */
  follow(): Promise<void>;
}

/**
 * Opens a session (`connect`: the calls that set it up and the first sync), follows it, and opens
 * it again when it ends, forever, until `signal` aborts. While there is none, the last published
 * pools stay in service. `firstAttempt` is called once the first connect succeeded or failed.
 */
export async function keepConnected(options: {
  what: string;
  endpoint: string;
  logger: Logger;
  signal: AbortSignal;
  setConnected: (connected: boolean) => void;
  firstAttempt: () => void;
  connect: () => Promise<Session>;
}): Promise<void> {
  const { what, endpoint, logger, signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const session = await options.connect();
      logger.info({ endpoint, ...session.fields }, failures > 0 ? `reconnected to ${what}` : `connected to ${what}`);
      failures = 0;
      options.setConnected(true);
      options.firstAttempt();
      await session.follow();
      if (!signal.aborted) logger.warn({ endpoint }, `${what} event stream ended; keeping the last known pools and reconnecting`);
    } catch (err) {
      if (signal.aborted) break;
      failures++;
      const message = err instanceof Error ? err.message : String(err);
      if (failures === 1 || failures % 10 === 0) logger.error({ endpoint, code: (err as LbError).code, attempt: failures }, message);
      options.firstAttempt();
    }
    options.setConnected(false);
    if (signal.aborted) break;
    const backoff = Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 10));
    await delay(backoff, undefined, { signal }).catch(() => undefined);
  }
}

/** Runs `fn` on every item, at most `limit` at a time; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
