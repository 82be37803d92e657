import type { UnsafeReuse } from '../../config/types.js';
import type { HttpRoute } from '../../control/snapshot.js';
import type { ProxyError } from '../../errors.js';
import type { StreamedBody } from '../http1/upstream-connection.js';

/** Methods a request may be sent again with, if a server may have read it (RFC 9110 §9.2.2). */
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * Whether a failed attempt may go to another server: always when the connection was never
 * established or the server reset it unread; for idempotent methods also when it broke before any
 * response byte. Never when a streamed body has already been read. `body`: as the request holds it.
 */
export function isRetryable(error: ProxyError, method: string, body: StreamedBody | Buffer[] | null): boolean {
  if (body !== null && !Array.isArray(body) && body.started) return false;
  if (error.kind === 'connect_refused' || error.kind === 'connect_timeout') return true;
  // A reset (RST) before any response byte means the server never read the request: Linux sends
  // RST, not FIN, when a socket is closed with unread data. That is the race of a server closing
  // an idle keep-alive connection (or its accept queue, on a new one) as the request arrives, and
  // it is safe to retry whatever the method.
  const cause = (error.cause as { code?: string } | undefined)?.code;
  if (cause === 'ECONNRESET' && !error.responseStarted) return true;
  return (error.kind === 'reset' || error.kind === 'response_timeout') && idempotentMethods.has(method);
}

/** Which connection a request may take: any idle pooled one, a pooled one only while it is fresh, or one of its own (closed after the response). */
export type ConnectionRule = 'pooled' | 'fresh' | 'own';

/** The connection rule of a request under `unsafeReuse`. */
export function connectionRule(method: string, firstOnConnection: boolean, reuse: UnsafeReuse): ConnectionRule {
  if (reuse === 'always' || idempotentMethods.has(method)) return 'pooled';
  if (reuse === 'fresh') return 'fresh';
  return reuse === 'never' || firstOnConnection ? 'own' : 'pooled';
}

/**
 * `unsafeReuse: safe`: a non-idempotent request that lost a reused keep-alive connection before
 * any answer is left to the client, whose own connection is closed as the server's was, so that
 * the client retries as it would have against the server. On a new connection, a close means the
 * server read the request, and the client gets a 502.
 */
export function hangsUp(error: ProxyError, route: HttpRoute, method: string): boolean {
  return route.service.config.retry.unsafeReuse === 'safe' && error.kind === 'reset' && error.reusedConnection && !error.responseStarted && !idempotentMethods.has(method);
}
