// Which source a request counts against, for rateLimit and inFlightReq (Traefik's sourceCriterion).

export type SourceCriterion =
  /** The client address; depth N > 0: the Nth address of X-Forwarded-For from the right (the one a trusted proxy N hops away saw). */
  | { readonly ipDepth: number }
  /** The value of a request header (an API key); requests without it count by client address. */
  | { readonly requestHeaderName: string };

export interface SourceRequest {
  readonly clientIp: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The Nth entry of X-Forwarded-For from the right; the client address when it has fewer. */
function forwardedAt(request: SourceRequest, depth: number): string {
  const list = headerValue(request.headers['x-forwarded-for']);
  if (list === undefined) return request.clientIp;
  const entries = list.split(',');
  const entry = entries[entries.length - depth]?.trim();
  return entry ? entry : request.clientIp;
}

/** The key a request's tokens are counted under. Header values and addresses never collide: they are prefixed. */
export function sourceOf(criterion: SourceCriterion, request: SourceRequest): string {
  if ('requestHeaderName' in criterion) {
    const value = headerValue(request.headers[criterion.requestHeaderName]);
    return value === undefined || value === '' ? `ip:${request.clientIp}` : `h:${value}`;
  }
  return `ip:${criterion.ipDepth === 0 ? request.clientIp : forwardedAt(request, criterion.ipDepth)}`;
}
