// rateLimit and inFlightReq for lb as a whole under `workers: N`: the primary holds every
// source's bucket (LimitAuthority), and each worker holds leases of tokens taken from it in
// batches (LeasedLimits). A request that finds a token in its worker's lease passes at once;
// only an empty lease asks the primary, one message for every request waiting on that source.
// The primary grants a share of what is left (less as the bucket empties, one at a time near
// the end); when it has too few, it recalls the unused tokens other workers hold before
// answering, so lb never admits more than the limit, nor refuses while a worker sits on tokens.
import { TokenBucket, type LimitPool, type LimitStore, type PoolShape, type TakeResult } from '../middleware/limits.js';
import type { LimitGrant, LimitRecall, LimitReturn, LimitTake } from './messages.js';

/** The most tokens one lease takes at a time, however full the bucket. */
const MAX_LEASE = 256;

/** Leases idle for this long go back to the primary, so that the buckets of sources gone quiet can be dropped. */
const IDLE_MS = 10_000;

function keyOf(pool: string, source: string): string {
  return `${pool}\0${source}`;
}

interface Entry {
  readonly pool: string;
  readonly source: string;
  readonly bucket: TokenBucket;
  readonly shape: PoolShape;
  /** Tokens each worker holds (used or not), by worker id. */
  readonly leased: Map<number, number>;
  /** Takes waiting for recalled tokens, in order. */
  waiting: Array<{ worker: number; take: LimitTake }>;
  /** Workers asked to give back their unused tokens that have not answered yet. */
  recalling: Set<number>;
}

/** The primary's side: every pool's buckets, and what each worker holds of them. */
export class LimitAuthority {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly send: (worker: number, message: LimitGrant | LimitRecall) => void,
    private readonly workerCount: () => number,
  ) {}

  take(worker: number, take: LimitTake): void {
    const key = keyOf(take.pool, take.source);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { pool: take.pool, source: take.source, bucket: new TokenBucket(take.shape, performance.now()), shape: take.shape, leased: new Map(), waiting: [], recalling: new Set() };
      this.entries.set(key, entry);
    } else if (entry.shape.capacity !== take.shape.capacity || entry.shape.perMs !== take.shape.perMs) {
      entry.bucket.reshape(take.shape);
      (entry as { shape: PoolShape }).shape = take.shape;
    }
    if (entry.recalling.size > 0) {
      entry.waiting.push({ worker, take });
      return;
    }
    const now = performance.now();
    if (entry.bucket.available(now) < take.need) {
      const holders = [...entry.leased].filter(([id, count]) => id !== worker && count > 0).map(([id]) => id);
      if (holders.length > 0) {
        entry.waiting.push({ worker, take });
        for (const id of holders) {
          entry.recalling.add(id);
          this.send(id, { type: 'lb:limit-recall', pool: entry.pool, source: entry.source });
        }
        return;
      }
    }
    this.grant(entry, worker, take, now);
  }

  /** Tokens a worker gives back: unused ones, or (inFlightReq) slots of requests that ended. */
  giveBack(worker: number, message: LimitReturn): void {
    const entry = this.entries.get(keyOf(message.pool, message.source));
    if (entry === undefined) return;
    const held = entry.leased.get(worker) ?? 0;
    entry.bucket.give(Math.min(held, message.count));
    // What it still holds: for rate limits, nothing (tokens it spent are gone); for inFlightReq, its requests in flight.
    const kept = Math.min(held, message.kept);
    if (kept > 0) entry.leased.set(worker, kept);
    else entry.leased.delete(worker);
    if (message.recalled && entry.recalling.delete(worker) && entry.recalling.size === 0) this.answerWaiting(entry);
    this.dropIfIdle(entry);
  }

  /** A worker exited: its in-flight requests ended with it; the rate-limit tokens it spent stay spent. */
  workerGone(worker: number): void {
    for (const entry of [...this.entries.values()]) {
      const held = entry.leased.get(worker);
      entry.leased.delete(worker);
      if (held !== undefined && entry.shape.perMs === 0) entry.bucket.give(held);
      entry.waiting = entry.waiting.filter((waiting) => waiting.worker !== worker);
      if (entry.recalling.delete(worker) && entry.recalling.size === 0) this.answerWaiting(entry);
      this.dropIfIdle(entry);
    }
  }

  private answerWaiting(entry: Entry): void {
    const waiting = entry.waiting;
    entry.waiting = [];
    const now = performance.now();
    for (const { worker, take } of waiting) this.grant(entry, worker, take, now);
  }

  private grant(entry: Entry, worker: number, take: LimitTake, now: number): void {
    const available = entry.bucket.available(now);
    // A share of what is left, so that a busy worker takes tokens in batches while others can
    // still find some; near the end, only what the waiting requests need.
    const share = Math.min(MAX_LEASE, Math.floor(available / (2 * Math.max(1, this.workerCount()))));
    const granted = entry.bucket.take(Math.max(take.need, share), now);
    if (granted > 0) entry.leased.set(worker, (entry.leased.get(worker) ?? 0) + granted);
    const waitMs = granted < take.need ? entry.bucket.msUntilToken(now) : 0;
    this.send(worker, { type: 'lb:limit-grant', id: take.id, granted, waitMs: Number.isFinite(waitMs) ? waitMs : -1 });
    this.dropIfIdle(entry);
  }

  private dropIfIdle(entry: Entry): void {
    if (entry.leased.size === 0 && entry.waiting.length === 0 && entry.recalling.size === 0 && entry.bucket.full(performance.now())) this.entries.delete(keyOf(entry.pool, entry.source));
  }
}

interface Lease {
  /** Unused tokens this worker holds. */
  tokens: number;
  /** Tokens its requests hold until they end (inFlightReq). */
  inUse: number;
  /** Requests waiting for the primary's answer. */
  waiters: Array<(result: TakeResult) => void>;
  /** A take is on its way to the primary. */
  asking: boolean;
  lastUsed: number;
}

/** One pool of a worker's LeasedLimits. */
class LeasedPool implements LimitPool {
  constructor(
    private readonly limits: LeasedLimits,
    readonly id: string,
    public shape: PoolShape,
  ) {}

  take(source: string): TakeResult | Promise<TakeResult> {
    return this.limits.take(this, source);
  }

  give(source: string): void {
    this.limits.give(this, source);
  }
}

/** A worker's side: leases of the primary's tokens, per pool and source. */
export class LeasedLimits implements LimitStore {
  private readonly pools = new Map<string, LeasedPool>();
  private readonly leases = new Map<string, Lease>();
  private readonly asked = new Map<number, { pool: LeasedPool; source: string; lease: Lease; need: number }>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: (message: LimitTake | LimitReturn) => void) {}

  pool(id: string, shape: PoolShape): LimitPool {
    let pool = this.pools.get(id);
    if (pool === undefined) this.pools.set(id, (pool = new LeasedPool(this, id, shape)));
    else pool.shape = shape;
    this.timer ??= setInterval(() => this.returnIdle(), IDLE_MS).unref();
    return pool;
  }

  take(pool: LeasedPool, source: string): TakeResult | Promise<TakeResult> {
    const lease = this.lease(pool, source);
    lease.lastUsed = performance.now();
    if (lease.tokens > 0) {
      lease.tokens--;
      if (pool.shape.perMs === 0) lease.inUse++;
      return true;
    }
    return new Promise((resolve) => {
      lease.waiters.push(resolve);
      if (!lease.asking) this.ask(pool, source, lease);
    });
  }

  give(pool: LeasedPool, source: string): void {
    const lease = this.lease(pool, source);
    const waiter = lease.waiters.shift();
    // The slot goes straight to a request of this worker waiting for one.
    if (waiter) return waiter(true);
    lease.inUse--;
    lease.tokens++;
  }

  private lease(pool: LeasedPool, source: string): Lease {
    const key = keyOf(pool.id, source);
    let lease = this.leases.get(key);
    if (lease === undefined) this.leases.set(key, (lease = { tokens: 0, inUse: 0, waiters: [], asking: false, lastUsed: performance.now() }));
    return lease;
  }

  /** The primary's answer to a take. */
  granted(message: LimitGrant): void {
    const asked = this.asked.get(message.id);
    if (asked === undefined) return;
    this.asked.delete(message.id);
    const { pool, source, lease } = asked;
    lease.asking = false;
    lease.tokens += message.granted;
    while (lease.tokens > 0 && lease.waiters.length > 0) {
      lease.tokens--;
      if (pool.shape.perMs === 0) lease.inUse++;
      lease.waiters.shift()!(true);
    }
    if (lease.waiters.length === 0) return;
    if (message.granted < asked.need) {
      // What the primary could not give is refused: a rate limit says when a token is due.
      const waitMs = message.waitMs < 0 ? 1_000 : message.waitMs;
      for (const waiter of lease.waiters.splice(0)) waiter(waitMs);
    } else {
      // Requests that came while the take was on its way ask again.
      this.ask(pool, source, lease);
    }
  }

  /** The primary needs the tokens this worker does not use: all of them go back. */
  recall(message: LimitRecall): void {
    const key = keyOf(message.pool, message.source);
    const lease = this.leases.get(key);
    const count = lease?.tokens ?? 0;
    if (lease) lease.tokens = 0;
    this.send({ type: 'lb:limit-return', pool: message.pool, source: message.source, count, kept: lease?.inUse ?? 0, recalled: true });
  }

  private ask(pool: LeasedPool, source: string, lease: Lease): void {
    const id = this.nextId++;
    const need = lease.waiters.length;
    lease.asking = true;
    this.asked.set(id, { pool, source, lease, need });
    this.send({ type: 'lb:limit-take', id, pool: pool.id, source, shape: pool.shape, need });
  }

  private returnIdle(): void {
    const cutoff = performance.now() - IDLE_MS;
    for (const [key, lease] of this.leases) {
      if (lease.asking || lease.waiters.length > 0 || lease.lastUsed > cutoff) continue;
      // Requests still in flight keep their lease (and its slots) in this worker.
      if (lease.inUse === 0) this.leases.delete(key);
      const [pool, source] = key.split('\0') as [string, string];
      this.send({ type: 'lb:limit-return', pool, source, count: lease.tokens, kept: lease.inUse, recalled: false });
      lease.tokens = 0;
    }
  }
}
