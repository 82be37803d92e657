// One class per failure, each with a stable `code` (catalogue: docs/errors.md).
import { resolve } from 'node:path';

export class LbError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export interface ConfigIssue {
  /** `file:line:col` of the offending node, or just the file when the position is unknown. */
  location: string;
  /** Key path such as `services.app.servers[1].url`. */
  path: string;
  message: string;
}

export function formatConfigIssue(issue: ConfigIssue): string {
  return issue.path ? `${issue.location}: ${issue.path}: ${issue.message}` : `${issue.location}: ${issue.message}`;
}

export class ConfigReadError extends LbError {
  /** The file does not exist (rather than being unreadable). */
  readonly missing: boolean;
  constructor(file: string, cause: unknown) {
    const missing = (cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    const reason = missing ? `no such file (${resolve(file)})` : cause instanceof Error ? cause.message : String(cause);
    super('LB_CONFIG_READ', `cannot read config file ${file}: ${reason}`, { cause });
    this.missing = missing;
  }
}

export class ConfigInvalidError extends LbError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('LB_CONFIG_INVALID', `invalid configuration:\n${issues.map(formatConfigIssue).join('\n')}`);
    this.issues = issues;
  }
}

export class ListenError extends LbError {
  constructor(what: string, address: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const hint =
      errno === 'EADDRINUSE'
        ? 'another process already listens there; stop it or change the address'
        : errno === 'EACCES'
          ? 'ports below 1024 need privileges; use a higher port or grant CAP_NET_BIND_SERVICE'
          : (cause as Error | undefined)?.message ?? String(cause);
    super('LB_LISTEN_FAILED', `cannot listen for ${what} on ${address}: ${hint}`, { cause });
  }
}

export class WorkerStartError extends LbError {
  constructor(detail: string) {
    super('LB_WORKER_START', `a data-plane worker could not start: ${detail}`);
  }
}

/**
 * A certificate, private key or CA file of an https entrypoint that cannot be used: unreadable,
 * not PEM, or a key that does not belong to its certificate. `key` is where lb.yaml names the file
 * (`tls.certificates[0].certFile`), `file` the file itself.
 */
export class TlsCertificateError extends LbError {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super('LB_TLS_CERTIFICATE', `${key ? `${key}: ` : ''}${file}: ${problem}`, options);
  }
}

/**
 * Why the data plane could not forward a request or connection. `kind` is the value of the
 * `kind` label in metrics and of `error` in access logs, so it must stay stable.
 */
export type ProxyErrorKind =
  | 'no_route'
  | 'no_backend'
  | 'connect_refused'
  | 'connect_timeout'
  | 'reset'
  | 'bad_response'
  | 'response_timeout'
  | 'body_timeout'
  | 'request_body_timeout'
  | 'response_read_timeout'
  | 'client_abort'
  | 'middleware_missing'
  | 'middleware_failed'
  | 'rate_limited'
  | 'in_flight_limited'
  | 'auth_unavailable'
  | 'auth_timeout';

/**
 * Which side ended an exchange, and in which phase (the access log's `termination`, in the
 * spirit of HAProxy's termination state; vocabulary in docs/metrics.md#termination). The first
 * character says who: `-` nobody (it completed), `C` the client, `S` the server, `s` a server
 * timeout, `P` lb itself. The second says when: `R` routing the request, `C` connecting to the
 * server, `H` before the response head reached the client, `D` during the body or tunnel.
 */
export type Termination = '--' | 'PR' | 'SC' | 'sC' | 'SH' | 'sH' | 'PH' | 'CH' | 'cH' | 'SD' | 'sD' | 'PD' | 'CD' | 'cD';

interface ProxyErrorEntry {
  code: string;
  status: number;
  text: string;
  /** The termination before the response head reached the client, and after. */
  termination: readonly [Termination, Termination];
}

const proxyErrorCodes: Record<ProxyErrorKind, ProxyErrorEntry> = {
  no_route: { code: 'LB_NO_ROUTE', status: 404, text: 'no router matches this request', termination: ['PR', 'PR'] },
  no_backend: { code: 'LB_NO_BACKEND', status: 503, text: 'no backend server is available for this service', termination: ['PR', 'PR'] },
  connect_refused: { code: 'LB_UPSTREAM_REFUSED', status: 502, text: 'the backend refused the connection', termination: ['SC', 'SC'] },
  connect_timeout: { code: 'LB_UPSTREAM_CONNECT_TIMEOUT', status: 504, text: 'the backend did not accept the connection in time', termination: ['sC', 'sC'] },
  reset: { code: 'LB_UPSTREAM_RESET', status: 502, text: 'the backend closed the connection before it answered', termination: ['SH', 'SD'] },
  bad_response: { code: 'LB_UPSTREAM_BAD_RESPONSE', status: 502, text: 'the backend sent a malformed response', termination: ['PH', 'PD'] },
  response_timeout: { code: 'LB_UPSTREAM_RESPONSE_TIMEOUT', status: 504, text: 'the backend did not send a response head in time', termination: ['sH', 'sH'] },
  body_timeout: { code: 'LB_UPSTREAM_BODY_TIMEOUT', status: 504, text: 'the backend response body stalled', termination: ['sD', 'sD'] },
  request_body_timeout: { code: 'LB_CLIENT_BODY_TIMEOUT', status: 408, text: 'the client paused its request body for longer than timeouts.requestBody, or sent it slower than minRequestBodyRate', termination: ['cH', 'cD'] },
  response_read_timeout: { code: 'LB_CLIENT_READ_TIMEOUT', status: 408, text: 'the client left the response unread for longer than timeouts.idle', termination: ['cD', 'cD'] },
  client_abort: { code: 'LB_CLIENT_ABORT', status: 499, text: 'the client went away', termination: ['CH', 'CD'] },
  middleware_missing: { code: 'LB_MIDDLEWARE_MISSING', status: 500, text: 'the router names a middleware that no provider defines', termination: ['PR', 'PR'] },
  middleware_failed: { code: 'LB_MIDDLEWARE_FAILED', status: 500, text: 'a middleware failed', termination: ['PR', 'PR'] },
  rate_limited: { code: 'LB_RATE_LIMITED', status: 429, text: 'this source sent more requests than the rateLimit middleware allows', termination: ['PR', 'PR'] },
  in_flight_limited: { code: 'LB_IN_FLIGHT_LIMITED', status: 429, text: 'this source has as many requests in flight as the inFlightReq middleware allows', termination: ['PR', 'PR'] },
  auth_unavailable: { code: 'LB_AUTH_UNAVAILABLE', status: 503, text: 'the forwardAuth server could not be asked', termination: ['PR', 'PR'] },
  auth_timeout: { code: 'LB_AUTH_TIMEOUT', status: 504, text: 'the forwardAuth server did not answer in time', termination: ['PR', 'PR'] },
};

/** The termination of an exchange that ended with `error` (none: it completed); `responded`: the response head reached the client. */
export function terminationOf(error: ProxyError | undefined, responded: boolean): Termination {
  return error === undefined ? '--' : proxyErrorCodes[error.kind].termination[responded ? 1 : 0];
}

export class ProxyError extends LbError {
  readonly kind: ProxyErrorKind;
  readonly status: number;
  /** Some of the backend's response had arrived: the backend saw the request. */
  responseStarted = false;
  /**
   * The request went on a keep-alive connection that had carried requests before: a close before
   * any answer may be the server closing it as idle, without having read the request.
   */
  reusedConnection = false;
  /** Headers the error answer carries besides lb-error (Retry-After of a 429). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  constructor(kind: ProxyErrorKind, detail?: string, options?: { cause?: unknown; headers?: ReadonlyArray<readonly [string, string]> }) {
    const entry = proxyErrorCodes[kind];
    super(entry.code, detail ? `${entry.text} (${detail})` : entry.text, options);
    this.kind = kind;
    this.status = entry.status;
    this.headers = options?.headers ?? [];
  }
}

/**
 * HTTP/1.1 that lb's own parser refuses: in a backend's response (then a 502 bad_response) or in
 * a request body (then a 400). `reason` says which rule was broken.
 */
export class HttpSyntaxError extends LbError {
  constructor(reason: string) {
    super('LB_HTTP_SYNTAX', reason);
  }
}

/** Maps a socket, parser or Node HTTP client failure onto the stable error kinds. */
export function classifyUpstreamError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof HttpSyntaxError) return new ProxyError('bad_response', err.message, { cause: err });
  const code = (err as { code?: string } | undefined)?.code ?? '';
  const detail = code || (err as Error | undefined)?.message;
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ProxyError('connect_refused', detail, { cause: err });
    case 'ETIMEDOUT':
      // The kernel gave up: on connect, a connect timeout; on an open connection, a broken one.
      return new ProxyError((err as NodeJS.ErrnoException).syscall === 'connect' ? 'connect_timeout' : 'reset', detail, { cause: err });
    case 'ERR_INVALID_CHAR':
    case 'ERR_INVALID_HTTP_TOKEN':
      return new ProxyError('bad_response', detail, { cause: err });
    default:
      // llhttp's codes, from Node's HTTP client (WebSocket handshakes through http-proxy).
      if (code.startsWith('HPE_')) return new ProxyError('bad_response', detail, { cause: err });
      return new ProxyError('reset', detail, { cause: err });
  }
}

/** `grant`: what a socket proxy must allow for the call (providers/docker/permissions.ts). */
export class DockerForbiddenError extends LbError {
  constructor(method: string, path: string, grant: string, cause?: unknown) {
    super('LB_DOCKER_FORBIDDEN', `the Docker API refused ${method} ${path} (403): ${grant}`, { cause });
  }
}

export class DockerUnreachableError extends LbError {
  constructor(endpoint: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException | undefined)?.code ?? (cause as Error | undefined)?.message ?? String(cause);
    super('LB_DOCKER_UNREACHABLE', `cannot reach the Docker API at ${endpoint} (${reason}); lb keeps the last known pools and retries`, { cause });
  }
}

/**
 * The TLS handshake with a Docker API (a swarm manager's TCP port) failed: a certificate that
 * does not fit, which retrying does not mend, unlike an endpoint that is down.
 */
export class DockerTlsError extends LbError {
  constructor(endpoint: string, problem: string, cause: unknown) {
    super('LB_DOCKER_TLS', `TLS with the Docker API at ${endpoint} failed: ${problem}; lb keeps the last known pools and retries`, { cause });
  }
}

/** The Swarm provider's endpoint is a worker, or an engine outside any swarm: only managers know the tasks. */
export class SwarmNotManagerError extends LbError {
  constructor(endpoint: string, detail: string, cause?: unknown) {
    super('LB_SWARM_NOT_MANAGER', `the Docker API at ${endpoint} is not a swarm manager (${detail}); point providers.swarm.endpoint at a manager (docs/swarm.md: its TCP API with TLS, or a socket proxy on a manager)`, { cause });
  }
}

/** An ACME order that did not end with a certificate; lb retries it after a backoff. */
export class AcmeOrderError extends LbError {
  constructor(resolver: string, host: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const reason = (cause as Error | undefined)?.message || errno || String(cause);
    super('LB_ACME_ORDER_FAILED', `ACME resolver ${resolver} could not get a certificate for ${host}: ${reason}${errno && !reason.includes(errno) ? ` (${errno})` : ''}`, { cause });
  }
}
