// Which source a request counts against, for rateLimit and inFlightReq (Traefik's sourceCriterion).
import { sourceAddress } from './client-address.js';
import type { MiddlewareRequest } from './middleware.js';

export interface SourceCriterionSettings {
  readonly ipStrategy?: { readonly depth?: number | undefined } | undefined;
  readonly requestHeaderName?: string | undefined;
}

/**
 * How to find a request's source: the value of `requestHeaderName` (an API key; requests without
 * it count by client address), else the client address as ipAllowList judges it
 * (client-address.ts). A header's key is prefixed with `h:`, which no address holds, so a header
 * value never counts as an address; an address is its own key (no string made per request).
 */
export function sourceKey(criterion: SourceCriterionSettings | undefined): (request: MiddlewareRequest) => string {
  const header = criterion?.requestHeaderName?.toLowerCase();
  const depth = criterion?.ipStrategy?.depth;
  // A forwarded address that cannot be read counts as the proxy that sent it.
  const address = (request: MiddlewareRequest) => sourceAddress(request, depth) ?? request.client.clientIp;
  if (header === undefined) return address;
  return (request) => {
    const value = request.header(header);
    return value ? `h:${value}` : address(request);
  };
}
