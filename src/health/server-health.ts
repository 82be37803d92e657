import type { HealthCheckConfig, OutlierDetectionConfig } from '../config/types.js';

/**
 * Health of one server of one service: the active-check state machine (rise/fall) and passive
 * outlier ejection with backoff. Pure: time comes in as arguments, so tests drive a fake clock.
 */
export class ServerHealth {
  /** Active state. Without health checks a server is up from the start. */
  up: boolean;
  /** Until its first passing check a new server is out, and rise does not apply to it. */
  private everUp: boolean;
  private successes = 0;
  private failures = 0;
  ejections = 0;
  ejectedUntil = 0;
  lastCheck: { ok: boolean; detail: string; at: number } | undefined;

  constructor(checked: boolean) {
    this.up = !checked;
    this.everUp = !checked;
  }

  /** Records an active check; returns true when `up` changed. */
  recordCheck(ok: boolean, detail: string, now: number, check: Pick<HealthCheckConfig, 'rise' | 'fall'>): boolean {
    this.lastCheck = { ok, detail, at: now };
    const was = this.up;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (!this.up && (!this.everUp || this.successes >= check.rise)) {
        this.up = true;
        this.everUp = true;
      }
      // A passing check also ends an ejection early.
      if (this.ejectedUntil > now) this.ejectedUntil = 0;
    } else {
      this.successes = 0;
      this.failures++;
      if (this.up && this.failures >= check.fall) this.up = false;
    }
    return was !== this.up;
  }

  /** Has passed a check at least once (or is not checked at all). */
  get known(): boolean {
    return this.everUp;
  }

  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** Ejects for base × (number of ejections), capped; returns when it ends. */
  eject(now: number, policy: Pick<OutlierDetectionConfig, 'baseEjectionMs' | 'maxEjectionMs'>): number {
    this.ejections++;
    this.ejectedUntil = now + Math.min(policy.baseEjectionMs * this.ejections, policy.maxEjectionMs);
    return this.ejectedUntil;
  }
}

/** How many of `total` servers may be ejected at once: the percentage, but always at least one. */
export function ejectionAllowance(total: number, maxEjectionPercent: number): number {
  return Math.max(1, Math.floor((total * maxEjectionPercent) / 100));
}
