import { usable, type Backend, type Balancer, type Choice } from './backend.js';

/**
 * Smooth weighted round-robin (nginx): weights 5,1,1 give a a b a c a a, never a burst of
 * five requests to the heavy server.
 */
export class RoundRobinBalancer<T extends Choice = Backend> implements Balancer<T> {
  readonly backends: readonly T[];
  private readonly current: number[];

  constructor(backends: readonly T[]) {
    this.backends = backends;
    this.current = backends.map(() => 0);
  }

  pick(_context?: unknown, exclude?: T): T | undefined {
    let total = 0;
    let best = -1;
    for (let i = 0; i < this.backends.length; i++) {
      const backend = this.backends[i]!;
      if (!usable(backend, exclude)) continue;
      this.current[i]! += backend.weight;
      total += backend.weight;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    if (best < 0) return undefined;
    this.current[best]! -= total;
    return this.backends[best];
  }
}
