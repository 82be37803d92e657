// A router's middlewares, compiled once per routing snapshot into a chain, and one request's way
// through it. The entrypoint (proxy/http/server.ts) runs the chain between routing and the
// balancer, on a ClientExchange, so that every client path (the fast path, Node's parser, HTTP/2)
// runs the same middlewares; a router without middlewares has no chain and pays nothing.
import type { IncomingHttpHeaders } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { MiddlewareConfig } from '../config/types.js';
import { ProxyError } from '../errors.js';
import type { Logger } from '../log.js';
import { ChunkedDecoder } from '../proxy/http1/chunked.js';
import { editedValue, headerEdit, mergeEdits, withEdit, type HeaderEdit, type HeaderEdits } from '../proxy/http1/header-edits.js';
import type { UpstreamHandler } from '../proxy/http1/upstream-connection.js';
import { stallTimer, type BodyStall, type ClientExchange, type ClientRequest } from '../proxy/http/client.js';
import { editedAnswerHeaders } from '../proxy/http/error-response.js';
import type { RequestEdits } from '../proxy/http/headers.js';
import { createMiddleware } from './index.js';
import type { Answer, Middleware, MiddlewareRequest } from './middleware.js';

/** A middleware made from its config; carried into the next snapshot while the config stays the same. */
export interface CompiledMiddleware {
  readonly config: MiddlewareConfig;
  readonly middleware: Middleware;
}

/**
 * Makes the middlewares of a snapshot (keys: `name@provider`), reusing those of `previous` whose
 * config did not change, so that their state (users read from a file, rate-limit buckets)
 * survives the snapshots that health changes and other routers cause.
 */
export function compileMiddlewares(configs: ReadonlyMap<string, MiddlewareConfig> | undefined, previous: ReadonlyMap<string, CompiledMiddleware> | undefined, logger?: Logger): ReadonlyMap<string, CompiledMiddleware> {
  const compiled = new Map<string, CompiledMiddleware>();
  for (const [name, config] of configs ?? []) {
    const old = previous?.get(name);
    // Made under its qualified name: state kept by name (rate-limit buckets) is then apart for
    // `api@file` and `api@docker`.
    compiled.set(name, old && (old.config === config || isDeepStrictEqual(old.config, config)) ? old : { config, middleware: createMiddleware({ ...config, name }, logger) });
  }
  return compiled;
}

/** Closes the middlewares that `previous` had and `next` no longer carries. */
export function retireMiddlewares(previous: ReadonlyMap<string, CompiledMiddleware>, next: ReadonlyMap<string, CompiledMiddleware>): void {
  for (const [name, old] of previous) if (next.get(name) !== old) old.middleware.close?.();
}

/** The entrypoint's timeouts.requestBody and minRequestBodyRate, for a body that a middleware reads whole. */
export type BodyPace = Pick<BodyStall, 'pauseMs' | 'minRate'>;

const NO_EDITS: HeaderEdits = Object.freeze([]);

/** What a chain reads of a client's request: every request path has it, upgrades too. */
export type ChainClient = ClientRequest & Pick<ClientExchange, 'gone' | 'streamBody' | 'acceptsChunked'>;

/**
 * What becomes of a request after its chain's request phase. One object serves every request of
 * an entrypoint: what it needs of each request travels in the request (a ChainRequest subclass).
 */
export interface ChainOutcome<R extends ChainRequest> {
  /** Forward it, with the chain's edits. */
  forward(request: R): void;
  /** A middleware answered it: the answer as it goes to the client, its headers edited by the middlewares before. */
  answer(answer: Answer, request: R): void;
  /** A middleware is missing or failed, or the client's body broke a rule: an error answer, with `request.answerEdits`. */
  fail(error: ProxyError, request: R): void;
}

/** The middlewares of one router, in the order they run, ready for requests. */
export class MiddlewareChain {
  private readonly requestPhase: Middleware[] = [];
  /** Their names, for errors. */
  private readonly requestPhaseNames: string[] = [];
  /**
   * The response phase's header edits, merged: undefined when no middleware makes any. They go
   * with the request upstream (UpstreamRequest.responseEdits) and come back in the response head,
   * so that every response path (and a wrapper, such as compress) sees them, and a response costs
   * no call and no object for them.
   */
  readonly responseEdits: HeaderEdits | undefined;
  private readonly wrappers: Middleware[];
  /**
   * For each request-phase middleware, the response edits of the middlewares listed before it:
   * an answer it makes goes back through those, as a server's response goes back through all of
   * them (Traefik's order). Undefined where none makes any.
   */
  private readonly answerEditsBefore: Array<HeaderEdits | undefined> = [];

  constructor(
    /** The names as qualified (`name@provider`), for /api/state and errors. */
    readonly names: readonly string[],
    middlewares: readonly Middleware[],
    /** Names no provider defines: every request answers 500, never unprotected. */
    readonly missing: readonly string[],
  ) {
    const editing: Middleware[] = [];
    middlewares.forEach((m, at) => {
      if (m.onRequest) {
        this.requestPhase.push(m);
        this.requestPhaseNames.push(names[at]!);
        this.answerEditsBefore.push(mergedResponseEdits(editing));
      }
      if (m.responseHeaderEdits) editing.push(m);
    });
    this.responseEdits = mergedResponseEdits(editing);
    this.wrappers = middlewares.filter((m) => m.wrapResponse).reverse();
  }

  /** Whether a middleware relays the response body (then `wrap` is needed). */
  get wrapsResponses(): boolean {
    return this.wrappers.length > 0;
  }

  run<R extends ChainRequest>(request: R, outcome: ChainOutcome<R>): void {
    if (this.missing.length) return this.fail(outcome, new ProxyError('middleware_missing', this.missing.join(', ')), request);
    this.step(request, 0, outcome);
  }

  private step<R extends ChainRequest>(request: R, from: number, outcome: ChainOutcome<R>): void {
    for (let i = from; i < this.requestPhase.length; i++) {
      let result: ReturnType<NonNullable<Middleware['onRequest']>>;
      try {
        result = this.requestPhase[i]!.onRequest!(request);
      } catch (err) {
        return this.fail(outcome, failure(err, this.requestPhaseNames[i]), request, i);
      }
      if (result instanceof Promise) {
        result.then(
          (answer) => {
            if (request.client.gone) return request.end();
            if (answer) this.answer(outcome, answer, request, i);
            else this.step(request, i + 1, outcome);
          },
          (err: unknown) => {
            if (request.client.gone) return request.end();
            this.fail(outcome, failure(err, this.requestPhaseNames[i]), request, i);
          },
        );
        return;
      }
      if (result) return this.answer(outcome, result, request, i);
    }
    outcome.forward(request);
  }

  /** The `at`-th request-phase middleware answered: its answer goes back through the response edits of those before it. */
  private answer<R extends ChainRequest>(outcome: ChainOutcome<R>, answer: Answer, request: R, at: number): void {
    const edits = this.answerEditsBefore[at];
    outcome.answer(edits ? { ...answer, headers: editedAnswerHeaders(answer.headers, edits) } : answer, request);
    request.end();
  }

  /** The `at`-th request-phase middleware failed; none: the chain could not start. */
  private fail<R extends ChainRequest>(outcome: ChainOutcome<R>, error: ProxyError, request: R, at?: number): void {
    request.answerEdits = at === undefined ? undefined : this.answerEditsBefore[at];
    outcome.fail(error, request);
    request.end();
  }

  /** The handler that relays the server's response through the middlewares that relay bodies. */
  wrap(handler: UpstreamHandler, request: ChainRequest): UpstreamHandler {
    let wrapped = handler;
    // Reversed lists: the last middleware wraps first, so the first one listed is outermost.
    for (const m of this.wrappers) wrapped = m.wrapResponse!(wrapped, request);
    return wrapped;
  }

  /** The response phase's edits of the headers of a head that Node writes (a body's wrappers are not for heads alone: a 101 has none). */
  editHead(headers: IncomingHttpHeaders): void {
    const edits = this.responseEdits;
    if (!edits) return;
    for (const { lower, value } of edits) {
      if (value === '') delete headers[lower];
      else headers[lower] = value;
    }
  }
}

/** The response edits of `listed` (in their order), merged in reverse, as the response goes back through them: the first listed edits last, and its edit of a name wins. */
function mergedResponseEdits(listed: readonly Middleware[]): HeaderEdits | undefined {
  if (listed.length === 0) return undefined;
  let edits: HeaderEdits = [];
  for (let i = listed.length - 1; i >= 0; i--) edits = mergeEdits(edits, listed[i]!.responseHeaderEdits!);
  return edits;
}

function failure(err: unknown, middleware: string | undefined): ProxyError {
  return err instanceof ProxyError ? err : new ProxyError('middleware_failed', `${middleware}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * One request in a chain: the edits its middlewares make to the request that goes upstream (the
 * target, headers, a body read first) and what they learnt (the user). It is also those edits as
 * the upstream head reads them (RequestEdits), so that forwarding makes no other object of them.
 */
export class ChainRequest<C extends ChainClient = ChainClient> implements MiddlewareRequest, RequestEdits {
  url: string;
  user: string | undefined;
  /** The header edits, made at the first. */
  private edits: HeaderEdit[] | undefined;
  /** The body, read whole by a middleware (buffering), framed as streamBody frames it. */
  body: Buffer[] | undefined;
  /** That body's length, without its chunk framing. */
  bodyBytes = 0;
  /** The response edits for the error answer of a chain that failed (ChainOutcome.fail). */
  answerEdits: HeaderEdits | undefined;
  /** What runs when the exchange is over (atEnd); cleared once run. */
  private endings: Array<() => void> | undefined;

  constructor(
    readonly client: C,
    /** The entrypoint's trustedProxies. */
    private readonly trusted: { trusts(ip: string): boolean },
    /** The entrypoint's timeouts.requestBody and minRequestBodyRate, for a body read here. */
    private readonly bodyPace: BodyPace,
  ) {
    this.url = client.url;
  }

  get method(): string {
    return this.client.method;
  }

  get host(): string {
    return this.client.host;
  }

  trusts(ip: string): boolean {
    return this.trusted.trusts(ip);
  }

  header(name: string): string | undefined {
    const edited = editedValue(this.edits, name);
    if (edited !== undefined) return edited === '' ? undefined : edited;
    const value = this.client.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  setHeader(name: string, value: string): void {
    this.setHeaderEdit(headerEdit(name, value));
  }

  setHeaderEdit(edit: HeaderEdit): void {
    this.edits = withEdit(this.edits, edit);
  }

  get headerEdits(): HeaderEdits {
    return this.edits ?? NO_EDITS;
  }

  /** The edits for the upstream head (ClientExchange.upstreamHead), or undefined when there are none. */
  get requestEdits(): RequestEdits | undefined {
    return this.edits === undefined && this.url === this.client.url ? undefined : this;
  }

  atEnd(release: () => void): void {
    (this.endings ??= []).push(release);
  }

  /** The exchange is over: runs what the middlewares left to do at its end (once, however often it is called). */
  end(): void {
    const endings = this.endings;
    this.endings = undefined;
    if (endings) for (const release of endings) release();
  }

  readBody(maxBytes: number): Promise<boolean> {
    const length = this.client.contentLength;
    if (length > maxBytes) return Promise.resolve(false);
    if (length === 0) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let payload = 0;
      let over = false;
      // A chunked body is counted by its payload, not its framing.
      const decoder = length < 0 ? new ChunkedDecoder((data) => (payload += data.length)) : undefined;
      const timer = stallTimer({ ...this.bodyPace, onStall: () => reject(new ProxyError('request_body_timeout')) });
      this.client.streamBody().start(
        (chunk) => {
          timer.moved(chunk.length);
          if (over) return true;
          if (decoder) decoder.feed(chunk, 0, chunk.length);
          else payload += chunk.length;
          if (payload > maxBytes) {
            over = true;
            timer.stop();
            resolve(false);
          } else {
            chunks.push(chunk);
          }
          return true;
        },
        () => {
          timer.stop();
          if (over) return;
          this.body = chunks;
          this.bodyBytes = payload;
          resolve(true);
        },
      );
    });
  }
}
