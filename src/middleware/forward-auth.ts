// forwardAuth: each request is first shown to an auth server (as Traefik's forwardAuth and
// nginx's auth_request do): a GET with the client's headers and X-Forwarded-Method, -Proto,
// -Host, -Uri and -For. A 2xx lets the request on, with the auth server's authResponseHeaders
// copied into it; any other answer goes back to the client as it is. An auth server that is down
// or slow fails closed: 503 or 504, under the middleware's own timeout.
import { Pool, errors as undiciErrors } from 'undici';
import { ProxyError } from '../errors.js';
import { HOP_BY_HOP_NAMES } from '../proxy/http1/syntax.js';

export interface ForwardAuthConfig {
  readonly address: string;
  /** Names of the auth server's response headers copied into the request when it passes. */
  readonly authResponseHeaders: readonly string[];
  /** Keep the client's X-Forwarded-* headers (a trusted proxy in front sets them) rather than lb's own. */
  readonly trustForwardHeader: boolean;
  /** The longest an answer may take, connecting included. */
  readonly timeoutMs: number;
}

/** What forwardAuth needs of the client's request. */
export interface AuthRequest {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly clientIp: string;
  readonly rawHeaders: readonly string[];
}

export type AuthVerdict =
  | { readonly allowed: true; readonly headers: ReadonlyArray<readonly [string, string]> }
  | { readonly allowed: false; readonly status: number; readonly headers: ReadonlyArray<readonly [string, string]>; readonly body: Buffer }
  | { readonly allowed: false; readonly error: ProxyError };

/** Connections kept to one auth server, per process. */
const POOL_CONNECTIONS = 64;
/** A deny answer's body is relayed up to this size; an auth server sends a page or a short message. */
const MAX_DENY_BODY_BYTES = 64 * 1024;

const notForwarded = new Set([...HOP_BY_HOP_NAMES, 'host', 'content-length', 'expect']);
const notReturned = new Set([...HOP_BY_HOP_NAMES, 'content-length']);
const forwardedNames = new Set(['x-forwarded-method', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri', 'x-forwarded-for']);

/** One pool per auth server origin, shared by the middlewares that name it and kept across snapshots. */
const pools = new Map<string, Pool>();

function poolFor(origin: string, timeoutMs: number): Pool {
  let pool = pools.get(origin);
  if (pool === undefined) {
    pool = new Pool(origin, { connections: POOL_CONNECTIONS, connect: { timeout: timeoutMs }, keepAliveTimeout: 4_000 });
    pools.set(origin, pool);
  }
  return pool;
}

/** Closes the pools to auth servers (lb stopping). */
export async function closeAuthPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.close().catch(() => undefined)));
}

function timedOut(err: unknown): boolean {
  return err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError || (err as Error).name === 'TimeoutError';
}

export class ForwardAuth {
  private readonly origin: string;
  private readonly path: string;
  private readonly copied: ReadonlySet<string>;

  constructor(
    private readonly config: ForwardAuthConfig,
    /** The entrypoint's scheme, for X-Forwarded-Proto. */
    private readonly proto: () => 'http' | 'https' = () => 'http',
  ) {
    const url = new URL(config.address);
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
    this.copied = new Set(config.authResponseHeaders.map((name) => name.toLowerCase()));
  }

  /** The headers of the GET to the auth server. */
  private headers(request: AuthRequest, proto: 'http' | 'https'): string[] {
    const out: string[] = [];
    const raw = request.rawHeaders;
    const trust = this.config.trustForwardHeader;
    const given = new Map<string, string>();
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      if (notForwarded.has(lower)) continue;
      if (forwardedNames.has(lower)) {
        if (trust) given.set(lower, given.has(lower) ? `${given.get(lower)}, ${raw[i + 1]}` : raw[i + 1]!);
        continue;
      }
      out.push(name, raw[i + 1]!);
    }
    const forwardedFor = given.get('x-forwarded-for');
    out.push(
      'X-Forwarded-Method', (trust && given.get('x-forwarded-method')) || request.method,
      'X-Forwarded-Proto', (trust && given.get('x-forwarded-proto')) || proto,
      'X-Forwarded-Host', (trust && given.get('x-forwarded-host')) || request.host,
      'X-Forwarded-Uri', (trust && given.get('x-forwarded-uri')) || request.url,
      'X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${request.clientIp}` : request.clientIp,
    );
    return out;
  }

  async check(request: AuthRequest): Promise<AuthVerdict> {
    const timeoutMs = this.config.timeoutMs;
    try {
      const response = await poolFor(this.origin, timeoutMs).request({
        method: 'GET',
        path: this.path,
        headers: this.headers(request, this.proto()),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const headers: Array<[string, string]> = [];
      const allowed = response.statusCode >= 200 && response.statusCode < 300;
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined) continue;
        if (allowed ? !this.copied.has(name) : notReturned.has(name)) continue;
        for (const each of Array.isArray(value) ? value : [value]) headers.push([name, each]);
      }
      if (allowed) {
        await response.body.dump();
        return { allowed, headers };
      }
      const chunks: Buffer[] = [];
      let length = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        length += chunk.length;
        if (length > MAX_DENY_BODY_BYTES) throw new ProxyError('auth_unavailable', `its ${response.statusCode} answer has a body over ${MAX_DENY_BODY_BYTES} bytes`);
        chunks.push(chunk);
      }
      return { allowed, status: response.statusCode, headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (err instanceof ProxyError) return { allowed: false, error: err };
      const detail = `${this.config.address}: ${(err as Error).message}`;
      return { allowed: false, error: timedOut(err) ? new ProxyError('auth_timeout', detail, { cause: err }) : new ProxyError('auth_unavailable', detail, { cause: err }) };
    }
  }
}
