import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import type { ProxyError } from '../../errors.js';
import type { MinBodyRate } from '../../config/types.js';
import { uploadRateDeadline } from '../deadlines.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { StreamedBody, UpstreamHandler } from '../http1/upstream-connection.js';
import type { TlsInfo } from '../../tls/terminator.js';
import type { ForwardingFacts, RequestEdits } from './headers.js';

/** What forwarding needs to know of a client's request, whichever parser read it. */
export interface ClientRequest {
  readonly method: string;
  /** The request target as sent (origin-form). */
  readonly url: string;
  readonly host: string;
  /** Lower-case names; repeated headers joined as Node joins them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** [name, value, ...] in the client's order and case. */
  readonly rawHeaders: readonly string[];
  readonly clientIp: string;
  readonly localPort: number;
  /** The body's length: 0 for none, -1 when it is chunked (length unknown). */
  readonly contentLength: number;
  /** The TLS connection it came on (https entrypoints); undefined on plain ones. */
  readonly tls: TlsInfo | undefined;
}

/** Set-Cookie values lb adds to a response (sticky balancers, sticky weighted services): one, several or none. */
export type SetCookie = string | readonly string[] | undefined;

export interface ExchangeOutcome {
  route: HttpRoute;
  backend: Backend;
  status: number;
  error: ProxyError | undefined;
  /** Request body bytes sent upstream, response body bytes sent to the client. */
  bytesIn: number;
  bytesOut: number;
  /** The response head had gone to the client when the exchange ended. */
  responded: boolean;
}

export interface ExchangeHooks {
  /** Set once the entrypoint is shutting down: responses then carry Connection: close. */
  readonly shutdown: { closing: boolean };
  /** The request is over (answered, failed or abandoned by the client). */
  done(outcome: ExchangeOutcome): void;
  /**
   * The backend failed before any response byte came back. Returns true when the request was
   * sent to another server instead; this exchange then ends without answering the client.
   */
  retry(error: ProxyError, backend: Backend): boolean;
}

/**
 * A client's request and the way back to it. Two implementations: lb's own HTTP/1.1 connection
 * (the fast path) and Node's http server (requests the fast path leaves to llhttp).
 */
export interface ClientExchange extends ClientRequest {
  /** The client's connection. */
  readonly socket: Socket;
  /** The client went away: nothing can be sent back any more. */
  readonly gone: boolean;
  /** The client speaks HTTP/1.1, so a chunked response can be relayed as it is. */
  readonly acceptsChunked: boolean;
  /** No request came before this one on the client's connection. */
  readonly firstOnConnection: boolean;
  /**
   * The request head for the backend (see headers.ts for the rules); `reset`: Connection: close;
   * `edits`: what the router's middlewares changed (target, headers), applied to the client's.
   */
  upstreamHead(facts: ForwardingFacts, reset: boolean, edits?: RequestEdits): Buffer;
  /** The body as it arrives, framed for the backend like the client framed it. */
  streamBody(): StreamedBody;
  /** Reads a (small) body whole, so that it can be sent again on a retry; `done` gets its chunks, `stall` ends a client that pauses too long. */
  readBody(done: (chunks: Buffer[]) => void, stall: BodyStall): void;
  /** A handler that relays one attempt's response to this client. */
  relay(route: HttpRoute, backend: Backend, setCookie: SetCookie, hooks: ExchangeHooks): UpstreamHandler;
  /** Answers with lb's own error response, with the response edits of the middlewares it goes back through. */
  sendError(error: ProxyError, edits: HeaderEdits | undefined): void;
  /** Answers with a response lb makes itself (a redirect, an ACME challenge): a plain-text body and these headers. */
  respond(status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer): void;
}

/** A client's longest pause in a body lb reads (timeouts.requestBody), its slowest rate, and what to do after either. */
export interface BodyStall {
  readonly pauseMs: number;
  readonly minRate: MinBodyRate | undefined;
  readonly onStall: () => void;
  /** The client left before its body ended. */
  readonly onGone?: () => void;
}

/**
 * A body read whole (readBody), chunk by chunk: `done` once it ends in time. A body that stalled
 * is over (onStall answered it), and what comes after is dropped; a client that leaves first ends
 * it with onGone. Each of done, onStall and onGone runs at most once, and only one of them.
 */
export function bodyCollector(stall: BodyStall, done: (chunks: Buffer[]) => void): { chunk(bytes: Buffer): void; end(): void; gone(): void } {
  const chunks: Buffer[] = [];
  let over = false;
  const timer = stallTimer({
    ...stall,
    onStall: () => {
      over = true;
      stall.onStall();
    },
  });
  return {
    chunk: (bytes) => {
      if (over) return;
      timer.moved(bytes.length);
      chunks.push(bytes);
    },
    end: () => {
      if (over) return;
      over = true;
      timer.stop();
      done(chunks);
    },
    gone: () => {
      if (over) return;
      over = true;
      timer.stop();
      stall.onGone?.();
    },
  };
}

/** A timer for `stall`, moved on by `moved(bytes)` at each chunk; `stop()` once the body is in. */
export function stallTimer(stall: BodyStall): { moved(bytes: number): void; stop(): void } {
  const { pauseMs, minRate, onStall } = stall;
  let timer = setTimeout(onStall, minRate ? Math.min(pauseMs, minRate.graceMs) : pauseMs);
  if (!minRate) return { moved: () => timer.refresh(), stop: () => clearTimeout(timer) };
  const since = performance.now();
  let bytes = 0;
  return {
    moved: (n) => {
      bytes += n;
      const now = performance.now();
      clearTimeout(timer);
      timer = setTimeout(onStall, Math.min(pauseMs, uploadRateDeadline(since, bytes, minRate) - now));
    },
    stop: () => clearTimeout(timer),
  };
}
