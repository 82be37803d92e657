import type { ServicePool } from '../../control/snapshot.js';

/**
 * Keeps retries under a share of a service's requests: each request earns `percent`/100 of a
 * token, a retry spends one. So that a quiet service can still retry, the bucket also refills by
 * one token per second. The cap bounds a burst: large enough for every request in flight to a
 * server that dies at once (a killed replica under load), small enough that a long calm spell
 * cannot fund a retry storm.
 */
export class RetryBudget {
  private tokens = 1;
  private refilledAt: number;
  readonly percent: number;
  private readonly earn: number;
  private readonly cap: number;
  private readonly now: () => number;

  constructor(percent: number, cap = 100, now: () => number = Date.now) {
    this.percent = percent;
    this.earn = percent / 100;
    this.cap = Math.max(1, cap);
    this.now = now;
    this.refilledAt = now();
  }

  onRequest(): void {
    if (this.tokens < this.cap) this.tokens = Math.min(this.cap, this.tokens + this.earn);
  }

  tryRetry(): boolean {
    const now = this.now();
    const seconds = Math.floor((now - this.refilledAt) / 1000);
    if (seconds > 0) {
      this.tokens = Math.min(this.cap, this.tokens + seconds);
      this.refilledAt += seconds * 1000;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** One retry budget per service, kept across snapshots until the service's `retryBudget` changes. */
export class RetryBudgets {
  private readonly budgets = new Map<string, RetryBudget>();

  for(service: ServicePool): RetryBudget {
    const percent = service.config.retry.budgetPercent;
    let budget = this.budgets.get(service.name);
    if (budget?.percent !== percent) this.budgets.set(service.name, (budget = new RetryBudget(percent)));
    return budget;
  }
}
