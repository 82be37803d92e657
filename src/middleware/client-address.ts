import { isIP } from 'node:net';
import type { MiddlewareRequest } from './middleware.js';

/**
 * The address a middleware judges the client by (ipAllowList, rateLimit, inFlightReq). From a
 * peer that is not in the entrypoint's trustedProxies, the peer itself (the PROXY protocol's
 * client address when the entrypoint reads one): its X-Forwarded-For is its own word. From a
 * trusted proxy, X-Forwarded-For: with `depth` (Traefik's ipStrategy.depth) the depth-th entry
 * from the right, else the nearest entry that is not a trusted proxy. Undefined: the header has
 * no usable address there, and the request cannot be judged.
 */
export function sourceAddress(request: MiddlewareRequest, depth: number | undefined): string | undefined {
  const peer = request.client.clientIp;
  if (!request.trusts(peer)) return peer;
  const entries = (request.header('x-forwarded-for') ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  if (depth) {
    const entry = entries[entries.length - depth];
    return entry !== undefined && isIP(entry) ? entry : undefined;
  }
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (!isIP(entry)) return undefined;
    if (!request.trusts(entry)) return entry;
  }
  return entries[0] ?? peer;
}
