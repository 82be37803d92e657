// Allowances per source, shared by rateLimit (tokens that refill over time) and inFlightReq
// (slots that come back when a request ends). In one process they are counted here; with
// `workers: N` the primary counts them and each worker holds leases (src/cluster/limits.ts).

/** What a pool allows each source: `capacity` tokens, refilled at `perMs` tokens a millisecond (0: only given back). */
export interface PoolShape {
  readonly capacity: number;
  readonly perMs: number;
}

/**
 * One source's tokens. Refilling is computed when the bucket is read, from the time since it was
 * last read, so an idle bucket costs nothing.
 */
export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private shape: PoolShape,
    now: number,
  ) {
    this.tokens = shape.capacity;
    this.updated = now;
  }

  /** New settings for the same pool (a reload): tokens above the new capacity are dropped. */
  reshape(shape: PoolShape): void {
    this.shape = shape;
    this.tokens = Math.min(this.tokens, shape.capacity);
  }

  private refill(now: number): void {
    if (this.shape.perMs > 0 && now > this.updated) this.tokens = Math.min(this.shape.capacity, this.tokens + (now - this.updated) * this.shape.perMs);
    this.updated = now;
  }

  /** Takes up to `want` whole tokens; returns how many it took. */
  take(want: number, now: number): number {
    this.refill(now);
    const taken = Math.min(want, Math.floor(this.tokens));
    this.tokens -= taken;
    return taken;
  }

  /** Whole tokens available now. */
  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  give(count: number): void {
    this.tokens = Math.min(this.shape.capacity, this.tokens + count);
  }

  /** Milliseconds until one whole token is due; Infinity when tokens only come back (inFlightReq). */
  msUntilToken(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return this.shape.perMs > 0 ? (1 - this.tokens) / this.shape.perMs : Infinity;
  }

  /** Full again: the same as a bucket that does not exist, so it can be dropped. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.shape.capacity;
  }
}

/** The answer to a take: `true` (a token), or the milliseconds until one may be due. */
export type TakeResult = true | number;

/** One pool's tokens for every source, as a middleware sees them. */
export interface LimitPool {
  /** Takes one token for `source`; a promise when the answer must come from elsewhere (the primary). */
  take(source: string): TakeResult | Promise<TakeResult>;
  /** Gives back a token taken for `source` (inFlightReq, when its request ends). */
  give(source: string): void;
}

/** Where pools live: one per middleware, kept across snapshots so that a reload does not refill them. */
export interface LimitStore {
  pool(id: string, shape: PoolShape): LimitPool;
}

/** Buckets not read for this long are dropped once full; one sweep per interval. */
const SWEEP_MS = 10_000;

/** Every source's bucket of one pool, counted in this process. */
export class LocalPool implements LimitPool {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private shape: PoolShape) {}

  reshape(shape: PoolShape): void {
    this.shape = shape;
    for (const bucket of this.buckets.values()) bucket.reshape(shape);
  }

  take(source: string): TakeResult {
    const now = performance.now();
    let bucket = this.buckets.get(source);
    if (bucket === undefined) this.buckets.set(source, (bucket = new TokenBucket(this.shape, now)));
    return bucket.take(1, now) === 1 ? true : bucket.msUntilToken(now);
  }

  give(source: string): void {
    const bucket = this.buckets.get(source);
    if (bucket === undefined) return;
    bucket.give(1);
    if (this.shape.perMs === 0 && bucket.full(performance.now())) this.buckets.delete(source);
  }

  sweep(): void {
    const now = performance.now();
    for (const [source, bucket] of this.buckets) if (bucket.full(now)) this.buckets.delete(source);
  }
}

/** Pools counted in this process: lb without workers. */
export class LocalLimits implements LimitStore {
  private readonly pools = new Map<string, LocalPool>();
  private timer: NodeJS.Timeout | undefined;

  pool(id: string, shape: PoolShape): LocalPool {
    let pool = this.pools.get(id);
    if (pool === undefined) this.pools.set(id, (pool = new LocalPool(shape)));
    else pool.reshape(shape);
    this.timer ??= setInterval(() => {
      for (const each of this.pools.values()) each.sweep();
    }, SWEEP_MS).unref();
    return pool;
  }
}

let processStore: LimitStore = new LocalLimits();

/** The store of this process: local, unless this is a worker of `workers: N` (then set at its start). */
export function limitStore(): LimitStore {
  return processStore;
}

export function useLimitStore(store: LimitStore): void {
  processStore = store;
}
