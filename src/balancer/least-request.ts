import { usable, type Backend, type Balancer } from './backend.js';

/**
 * Power of two choices: pick two servers at random and keep the one with fewer requests in
 * flight per unit of weight. Nearly as good as a full scan, without herding onto one server.
 */
export class LeastRequestBalancer implements Balancer {
  readonly backends: readonly Backend[];
  private readonly random: () => number;

  constructor(backends: readonly Backend[], random: () => number = Math.random) {
    this.backends = backends;
    this.random = random;
  }

  pick(_context?: unknown, exclude?: Backend): Backend | undefined {
    const n = this.backends.length;
    if (n === 0) return undefined;
    const first = this.randomUsable(exclude);
    if (!first) return undefined;
    const second = this.randomUsable(exclude, first);
    if (!second) return first;
    return load(second) < load(first) ? second : first;
  }

  private randomUsable(exclude: Backend | undefined, other?: Backend): Backend | undefined {
    const n = this.backends.length;
    const start = Math.floor(this.random() * n);
    for (let step = 0; step < n; step++) {
      const candidate = this.backends[(start + step) % n]!;
      if (candidate !== other && usable(candidate, exclude)) return candidate;
    }
    return undefined;
  }
}

function load(backend: Backend): number {
  return backend.inFlight / backend.weight;
}
