// rateLimit: a token bucket per source. `burst` tokens at most, refilled at `average` per
// `period`; a request without a token gets 429 with Retry-After (seconds until one is due).
// Counted for lb as a whole, also with workers (src/cluster/limits.ts).
import { limitStore, type LimitPool, type TakeResult } from './limits.js';
import { sourceOf, type SourceCriterion, type SourceRequest } from './source-criterion.js';

export interface RateLimitConfig {
  readonly average: number;
  readonly periodMs: number;
  readonly burst: number;
  readonly sourceCriterion: SourceCriterion;
}

/** A refusal: the seconds to put in Retry-After. */
export interface Refusal {
  readonly retryAfterSeconds: number;
}

export function refusal(result: TakeResult): Refusal | undefined {
  if (result === true) return undefined;
  // A slot of inFlightReq comes back when a request ends: no time can be promised, so a second.
  return { retryAfterSeconds: Number.isFinite(result) ? Math.max(1, Math.ceil(result / 1000)) : 1 };
}

export class RateLimit {
  private readonly pool: LimitPool;

  constructor(
    /** The middleware's name: its buckets outlive snapshots (a reload does not refill them). */
    name: string,
    private readonly config: RateLimitConfig,
  ) {
    this.pool = limitStore().pool(`rateLimit\0${name}`, { capacity: config.burst, perMs: config.average / config.periodMs });
  }

  /** undefined: the request may go on; otherwise, why not. A promise only when a worker must ask the primary. */
  admit(request: SourceRequest): Refusal | undefined | Promise<Refusal | undefined> {
    const taken = this.pool.take(sourceOf(this.config.sourceCriterion, request));
    return taken instanceof Promise ? taken.then(refusal) : refusal(taken);
  }
}
