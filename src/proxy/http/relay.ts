import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { classifyUpstreamError, ProxyError } from '../../errors.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { ResponseHead } from '../http1/response-head.js';
import type { BodyFlow, UpstreamHandler } from '../http1/upstream-connection.js';
import type { ExchangeHooks, SetCookie } from './client.js';
import { hangsUp } from './retry-policy.js';

/**
 * One attempt's response on its way to the client: what both client sides share (the in-flight
 * count, byte counts, aborting the upstream request, and on a failure before the response
 * started, a retry or an error answer). Subclasses write the response their own way.
 */
export abstract class Relay implements UpstreamHandler {
  protected abortUpstream: ((err?: Error) => void) | undefined;
  protected flow: BodyFlow | undefined;
  protected bytesIn = 0;
  protected bytesOut = 0;
  protected done = false;
  protected readonly onDrain = () => this.flow?.resume();

  constructor(
    protected readonly route: HttpRoute,
    protected readonly backend: Backend,
    protected readonly setCookie: SetCookie,
    protected readonly hooks: ExchangeHooks,
  ) {
    backend.inFlight++;
  }

  abstract onHeaders(head: ResponseHead, flow: BodyFlow): boolean;
  abstract onData(chunk: Buffer): boolean;
  abstract onComplete(): void;

  /** The status line is committed: a failure can then only cut the response. */
  protected abstract get responseStarted(): boolean;
  /** The status of the response being relayed. */
  protected abstract get status(): number;
  /** The client request's method. */
  protected abstract get method(): string;
  /** Closes the client's connection: a response already started. */
  protected abstract cut(error: ProxyError): void;
  /** Closes the client's connection without an answer, as the server closed lb's (see hangsUp). */
  protected abstract hangUp(): void;
  /** Answers with lb's own error response, with the response edits of the router's middlewares. */
  protected abstract answer(error: ProxyError, edits: HeaderEdits | undefined): void;

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.done) abort(new ProxyError('client_abort'));
  }

  onBodySent(bytes: number): void {
    this.bytesIn += bytes;
  }

  onError(err: Error): void {
    if (this.done) return;
    const error = classifyUpstreamError(err);
    if (this.responseStarted) {
      this.cut(error);
      this.finish(this.status, error);
      return;
    }
    this.release();
    if (this.hooks.retry(error, this.backend)) return;
    const hangUp = hangsUp(error, this.route, this.method);
    const reported = hangUp ? new ProxyError(error.kind, 'the backend closed a reused connection; the client connection was closed unanswered, so that the client may retry', { cause: error }) : error;
    this.hooks.done({ route: this.route, backend: this.backend, status: error.status, error: reported, bytesIn: this.bytesIn, bytesOut: 0, responded: false });
    if (hangUp) this.hangUp();
    else this.answer(error, this.route.middlewares?.responseEdits);
  }

  /** Ends the exchange without an answer (the client left, or its request broke) and aborts upstream. */
  stop(status: number, error: ProxyError): void {
    if (this.done) return;
    this.finish(status, error);
    this.abortUpstream?.(error);
  }

  protected release(): void {
    this.done = true;
    this.backend.inFlight--;
  }

  protected finish(status: number, error: ProxyError | undefined): void {
    this.release();
    this.hooks.done({ route: this.route, backend: this.backend, status, error, bytesIn: this.bytesIn, bytesOut: this.bytesOut, responded: error === undefined || this.responseStarted });
  }
}
