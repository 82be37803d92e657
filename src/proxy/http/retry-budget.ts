/**
 * Keeps retries under a share of a service's requests: each request earns `percent`/100 of a
 * token, a retry spends one. One token is there from the start so that a quiet service can still
 * retry once; the bucket is capped so that a long calm spell cannot fund a retry storm.
 */
export class RetryBudget {
  private tokens = 1;
  private readonly earn: number;
  private readonly cap: number;

  constructor(percent: number, cap = 10) {
    this.earn = percent / 100;
    this.cap = Math.max(1, cap);
  }

  onRequest(): void {
    if (this.tokens < this.cap) this.tokens = Math.min(this.cap, this.tokens + this.earn);
  }

  tryRetry(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
