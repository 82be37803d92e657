// inFlightReq: at most `amount` requests of one source in flight at once, from admission to the
// end of the exchange; one more gets 429. Counted for lb as a whole, also with workers
// (src/cluster/limits.ts).
import { limitStore, type LimitPool, type TakeResult } from './limits.js';
import type { MiddlewareFactory, MiddlewareRequest } from './middleware.js';
import { limited } from './rate-limit.js';
import { sourceKey } from './source-criterion.js';

function hold(pool: LimitPool, key: string, request: MiddlewareRequest, result: TakeResult): undefined {
  if (result !== true) throw limited('in_flight_limited', result);
  request.atEnd(() => pool.give(key));
  return undefined;
}

export const inFlightReq: MiddlewareFactory<'inFlightReq'> = ({ name, settings }) => {
  const pool = limitStore().pool(`inFlightReq\0${name}`, { capacity: settings.amount, perMs: 0 });
  const source = sourceKey(settings.sourceCriterion);
  return {
    onRequest(request) {
      const key = source(request);
      const taken = pool.take(key);
      return taken instanceof Promise ? taken.then((result) => hold(pool, key, request, result)) : hold(pool, key, request, taken);
    },
  };
};
