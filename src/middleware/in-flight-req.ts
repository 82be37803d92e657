// inFlightReq: at most `amount` requests of one source in flight at once (until their response
// ends); one more gets 429. Counted for lb as a whole, also with workers (src/cluster/limits.ts).
import { limitStore, type LimitPool } from './limits.js';
import { refusal, type Refusal } from './rate-limit.js';
import { sourceOf, type SourceCriterion, type SourceRequest } from './source-criterion.js';

export interface InFlightReqConfig {
  readonly amount: number;
  readonly sourceCriterion: SourceCriterion;
}

/** What an admitted request holds: `release()` once its exchange is over (once only). */
export interface Slot {
  release(): void;
}

export class InFlightReq {
  private readonly pool: LimitPool;

  constructor(
    name: string,
    private readonly config: InFlightReqConfig,
  ) {
    this.pool = limitStore().pool(`inFlightReq\0${name}`, { capacity: config.amount, perMs: 0 });
  }

  admit(request: SourceRequest): Slot | Refusal | Promise<Slot | Refusal> {
    const source = sourceOf(this.config.sourceCriterion, request);
    const taken = this.pool.take(source);
    if (taken instanceof Promise) return taken.then((result) => (result === true ? this.slot(source) : refusal(result)!));
    return taken === true ? this.slot(source) : refusal(taken)!;
  }

  private slot(source: string): Slot {
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.pool.give(source);
      },
    };
  }
}
