import { AddressRanges } from '../proxy/http/headers.js';
import { sourceAddress } from './client-address.js';
import type { MiddlewareFactory } from './middleware.js';

/** `ipAllowList`: only clients in `sourceRange` pass (see client-address.ts for which address); others get 403. */
export const ipAllowList: MiddlewareFactory<'ipAllowList'> = ({ settings }) => {
  const allowed = new AddressRanges(settings.sourceRange);
  const depth = settings.ipStrategy?.depth;
  return {
    onRequest(request) {
      const address = sourceAddress(request, depth);
      if (address !== undefined && allowed.has(address)) return undefined;
      return { status: 403, headers: [], body: `403 Forbidden: client address ${address ?? 'unknown'} is not allowed\n` };
    },
  };
};
