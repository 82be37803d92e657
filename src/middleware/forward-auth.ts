// forwardAuth: each request is first shown to an auth server (as Traefik's forwardAuth and
// nginx's auth_request do): a GET with the request's headers and X-Forwarded-Method, -Proto,
// -Host, -Uri and -For, as the middlewares before it left them (Traefik's order: a stripPrefix
// before it shows in X-Forwarded-Uri, a basicAuth before it has removed Authorization). A 2xx lets the request on, with the auth server's authResponseHeaders
// copied into it; any other answer goes back to the client as it is. An auth server that is down
// or slow fails closed: 503 or 504, under the middleware's own timeout.
import { Pool, errors as undiciErrors } from 'undici';
import { ProxyError } from '../errors.js';
import { editIndex } from '../proxy/http1/header-edits.js';
import { HOP_BY_HOP_NAMES } from '../proxy/http1/syntax.js';
import type { Answer, MiddlewareFactory, MiddlewareRequest } from './middleware.js';

/** Connections kept to the auth server, per middleware and process. */
const POOL_CONNECTIONS = 64;
/** A refusal's body is relayed up to this size; an auth server sends a page or a short message. */
const MAX_DENY_BODY_BYTES = 64 * 1024;

const notForwarded = new Set([...HOP_BY_HOP_NAMES, 'host', 'content-length', 'expect']);
const notReturned = new Set([...HOP_BY_HOP_NAMES, 'content-length']);
const forwardedNames = new Set(['x-forwarded-method', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri', 'x-forwarded-for']);

function timedOut(err: unknown): boolean {
  return err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError || (err as Error).name === 'TimeoutError';
}

/**
 * The headers of the GET to the auth server: the client's with the edits of the middlewares
 * before, then X-Forwarded-*. lb's own unless `trust` (trustForwardHeader, from a peer in the
 * entrypoint's trustedProxies): then the client's (a proxy in front set them) where it sent them.
 */
function authHeaders(request: MiddlewareRequest, trust: boolean): string[] {
  const client = request.client;
  const edits = request.headerEdits;
  const out: string[] = [];
  const raw = client.rawHeaders;
  const given = new Map<string, string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (notForwarded.has(lower)) continue;
    if (forwardedNames.has(lower)) {
      if (trust) given.set(lower, given.has(lower) ? `${given.get(lower)}, ${raw[i + 1]}` : raw[i + 1]!);
      continue;
    }
    if (edits.length !== 0 && editIndex(edits, lower) >= 0) continue;
    out.push(name, raw[i + 1]!);
  }
  for (const edit of edits) if (edit.value !== '' && !notForwarded.has(edit.lower) && !forwardedNames.has(edit.lower)) out.push(edit.name, edit.value);
  // A proxy's word as the middlewares before left it: an edit replaces what it sent, or removes it.
  if (trust) {
    for (const edit of edits) {
      if (!forwardedNames.has(edit.lower)) continue;
      if (edit.value === '') given.delete(edit.lower);
      else given.set(edit.lower, edit.value);
    }
  }
  const forwardedFor = given.get('x-forwarded-for');
  out.push(
    'X-Forwarded-Method', given.get('x-forwarded-method') ?? client.method,
    'X-Forwarded-Proto', given.get('x-forwarded-proto') ?? (client.tls ? 'https' : 'http'),
    'X-Forwarded-Host', given.get('x-forwarded-host') ?? client.host,
    'X-Forwarded-Uri', given.get('x-forwarded-uri') ?? request.url,
    'X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${client.clientIp}` : client.clientIp,
  );
  return out;
}

export const forwardAuth: MiddlewareFactory<'forwardAuth'> = ({ settings }) => {
  const url = new URL(settings.address);
  const path = `${url.pathname}${url.search}`;
  const timeoutMs = settings.timeout;
  const copied = new Set((settings.authResponseHeaders ?? []).map((name) => name.toLowerCase()));
  const pool = new Pool(url.origin, { connections: POOL_CONNECTIONS, connect: { timeout: timeoutMs }, keepAliveTimeout: 4_000 });

  const ask = async (request: MiddlewareRequest): Promise<Answer | undefined> => {
    const response = await pool.request({
      method: 'GET',
      path,
      // As in Traefik, whose entrypoints drop the X-Forwarded-* of peers outside forwardedHeaders.trustedIPs.
      headers: authHeaders(request, settings.trustForwardHeader && request.trusts(request.client.clientIp)),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      await response.body.dump();
      // A client's own X-User must not pass for the auth server's: the names copied are removed unless it sent them.
      for (const name of copied) {
        const value = response.headers[name];
        request.setHeader(name, value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value);
      }
      return undefined;
    }
    const headers: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined || notReturned.has(name)) continue;
      for (const each of Array.isArray(value) ? value : [value]) headers.push([name, each]);
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_DENY_BODY_BYTES) throw new ProxyError('auth_unavailable', `${settings.address}: its ${status} answer has a body over ${MAX_DENY_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
    return { status, headers, body: Buffer.concat(chunks) };
  };

  return {
    onRequest(request) {
      return ask(request).catch((err: unknown) => {
        if (err instanceof ProxyError) throw err;
        const detail = `${settings.address}: ${(err as Error).message}`;
        throw new ProxyError(timedOut(err) ? 'auth_timeout' : 'auth_unavailable', detail, { cause: err });
      });
    },
    close() {
      void pool.close().catch(() => undefined);
    },
  };
};
