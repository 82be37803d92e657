import { usable, type Backend, type Balancer } from './backend.js';

/** Weighted random choice. */
export class RandomBalancer implements Balancer {
  readonly backends: readonly Backend[];
  private readonly random: () => number;

  constructor(backends: readonly Backend[], random: () => number = Math.random) {
    this.backends = backends;
    this.random = random;
  }

  pick(_context?: unknown, exclude?: Backend): Backend | undefined {
    let total = 0;
    for (const backend of this.backends) if (usable(backend, exclude)) total += backend.weight;
    if (total === 0) return undefined;
    let point = this.random() * total;
    for (const backend of this.backends) {
      if (!usable(backend, exclude)) continue;
      point -= backend.weight;
      if (point < 0) return backend;
    }
    return this.backends.findLast((b) => usable(b, exclude));
  }
}
