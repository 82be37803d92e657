// rateLimit: a token bucket per source. `burst` tokens at most, refilled at `average` per
// `period`; a request without a token gets 429 with Retry-After (seconds until one is due).
// Counted for lb as a whole, also with workers (src/cluster/limits.ts).
import { ProxyError } from '../errors.js';
import { limitStore, type TakeResult } from './limits.js';
import type { MiddlewareFactory } from './middleware.js';
import { sourceKey } from './source-criterion.js';

/** The 429 of a refused take: Retry-After in whole seconds, at least 1. */
export function limited(kind: 'rate_limited' | 'in_flight_limited', waitMs: number): ProxyError {
  // A slot of inFlightReq comes back when a request ends: no time can be promised, so a second.
  const seconds = Number.isFinite(waitMs) ? Math.max(1, Math.ceil(waitMs / 1000)) : 1;
  return new ProxyError(kind, undefined, { headers: [['Retry-After', String(seconds)]] });
}

function admitted(result: TakeResult): undefined {
  if (result !== true) throw limited('rate_limited', result);
  return undefined;
}

export const rateLimit: MiddlewareFactory<'rateLimit'> = ({ name, settings }) => {
  if (settings.average === 0) return {};
  // The pool is the middleware's by name: its buckets outlive snapshots and reloads that keep the name.
  const pool = limitStore().pool(`rateLimit\0${name}`, { capacity: settings.burst, perMs: settings.average / settings.period });
  const source = sourceKey(settings.sourceCriterion);
  return {
    onRequest(request) {
      const taken = pool.take(source(request));
      return taken instanceof Promise ? taken.then(admitted) : admitted(taken);
    },
  };
};
