import { Backend } from '../../src/balancer/index.js';

/** Backends 10.0.0.1:80, 10.0.0.2:80, ... with the given weights (no traffic is ever sent). */
export function backends(...weights: number[]): Backend[] {
  return weights.map((weight, i) => new Backend({ scheme: 'http', host: `10.0.0.${i + 1}`, port: 80, weight }));
}

/** A seeded generator, so that statistical tests do not flake. */
export function seededRandom(seed = 42): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export function tally(picks: Array<Backend | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const pick of picks) counts.set(pick?.id ?? 'none', (counts.get(pick?.id ?? 'none') ?? 0) + 1);
  return counts;
}
