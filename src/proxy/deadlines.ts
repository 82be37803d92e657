import type { MinBodyRate } from '../config/types.js';

/**
 * Deadlines of upstream requests in flight (response head, body stalls), checked every TICK_MS.
 * A socket timeout per request cost three timer re-arms per request plus a refresh on every read
 * and write, about 2.5% of lb's CPU time per small request (docs/benchmarks.md); a deadline is a
 * number written on the connection. A timeout then fires up to TICK_MS late, never early.
 */
export const TICK_MS = 50;

/**
 * When an upload that began at `since` and has brought `bytes` falls below `rate` on average: when
 * those bytes were due at the minimum rate, and not before the grace period ends.
 */
export function uploadRateDeadline(since: number, bytes: number, rate: MinBodyRate): number {
  return since + Math.max(rate.graceMs, (bytes * 1000) / rate.bytesPerSecond);
}

/** Something with a deadline: `deadline` is a performance.now() time, 0 when none runs. */
export interface Timed {
  deadline: number;
  expired(): void;
}

const watched = new Set<Timed>();
let ticker: NodeJS.Timeout | undefined;

/** Watches `timed` until unwatch(); its deadline may change meanwhile. */
export function watch(timed: Timed): void {
  watched.add(timed);
  ticker ??= setInterval(tick, TICK_MS).unref();
}

export function unwatch(timed: Timed): void {
  watched.delete(timed);
}

function tick(): void {
  if (watched.size === 0) {
    clearInterval(ticker);
    ticker = undefined;
    return;
  }
  const now = performance.now();
  for (const timed of watched) {
    if (timed.deadline !== 0 && timed.deadline <= now) {
      timed.deadline = 0;
      timed.expired();
    }
  }
}
