// What a middleware is. One file per middleware type in this folder; `index.ts` lists them, and
// `chain.ts` compiles a router's middlewares into one chain when the routing snapshot is built.
import type { MiddlewareType } from '../config/schema.js';
import type { MiddlewareConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { HeaderEdit, HeaderEdits } from '../proxy/http1/header-edits.js';
import type { UpstreamHandler } from '../proxy/http1/upstream-connection.js';
import type { ChainClient } from './chain.js';

/** A response lb makes itself, instead of forwarding the request: a redirect, 401, 403, 413... */
export interface Answer {
  status: number;
  headers: ReadonlyArray<readonly [string, string]>;
  /** Plain text, unless `headers` give a Content-Type; bytes go as they are (an auth server's page). */
  body: string | Buffer;
}

/**
 * One request on its way through a chain, whichever client path (fast path, Node's parser,
 * HTTP/2) read it. Reads see the edits of the middlewares before; edits apply to the request
 * that goes upstream, never to what the client sent.
 */
export interface MiddlewareRequest {
  /** The client's request as it came (the HTTP/2 stream, Node's or lb's parse). */
  readonly client: ChainClient;
  readonly method: string;
  readonly host: string;
  /** The target (path and query) that goes upstream, after the rewrites so far. */
  url: string;
  /** A request header as it will go upstream (lower-case name); repeated ones joined with ", ". */
  header(name: string): string | undefined;
  /** The header edits made so far, in the order first made (a removal has an empty value). */
  readonly headerEdits: HeaderEdits;
  /** Sets (replaces) a request header; an empty value removes it. */
  setHeader(name: string, value: string): void;
  /** The same with an edit made once, when the middleware was (headerEdit): its line is not made again per request. */
  setHeaderEdit(edit: HeaderEdit): void;
  /** The entrypoint trusts this peer's X-Forwarded-* headers (trustedProxies). */
  trusts(ip: string): boolean;
  /** The authenticated user, for the access log. */
  user: string | undefined;
  /**
   * Reads the whole body before it is forwarded, up to `maxBytes` of payload: true when it is in
   * (it then goes upstream from memory), false when it was larger (nothing was forwarded).
   */
  readBody(maxBytes: number): Promise<boolean>;
  /**
   * Runs `release` once when the exchange is over: answered, failed, relayed, or abandoned by the
   * client (inFlightReq gives back its slot).
   */
  atEnd(release: () => void): void;
}

export interface Middleware {
  /**
   * Request phase, in the listed order: returns an Answer to answer the request itself (the
   * chain stops), or nothing to go on. May be async (forwardAuth); a chain whose middlewares all
   * answer synchronously runs without a promise.
   */
  onRequest?(request: MiddlewareRequest): Answer | undefined | Promise<Answer | undefined>;
  /**
   * Response phase, in reverse order: header edits (made with headerEdit), the same on every
   * response, so that a chain merges them once, when it is compiled, and a response costs no call
   * for them.
   */
  readonly responseHeaderEdits?: HeaderEdits;
  /**
   * Response phase for bodies (compress): wraps the handler that relays the server's response
   * to the client, in reverse order, so that the first middleware listed is the outermost.
   */
  wrapResponse?(handler: UpstreamHandler, request: MiddlewareRequest): UpstreamHandler;
  /** The middleware left the routing snapshot: stop its timers and watchers. */
  close?(): void;
}

/**
 * Makes the middleware of one `middlewares.NAME` (its settings were checked at load). `logger`
 * reports what goes wrong after load (a users file that became unreadable); the control loop's
 * copy has one, a worker's copies none, so that lb reports each problem once.
 */
export type MiddlewareFactory<K extends MiddlewareType> = (config: Extract<MiddlewareConfig, { type: K }>, logger: Logger | undefined) => Middleware;
