import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import { CHUNKED, type ResponseHead } from '../http1/response-head.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { BodyFlow } from '../http1/upstream-connection.js';
import type { ExchangeHooks, SetCookie } from '../http/client.js';
import { downstreamResponseHeaders } from '../http/headers.js';
import { Relay } from '../http/relay.js';
import { errorBody, errorHeaders } from '../http/error-response.js';
import { resetStream, sendHttp2Response, stopRequestAfterResponse } from './response.js';
import type { Http2Connection } from './client-stream.js';
import { grpcErrorTrailers, sendGrpcError } from './grpc.js';

/** What the relay needs of the request it answers. */
export interface Http2Call {
  readonly method: string;
  /** The client reads trailers (te: trailers): the response waits for those of an HTTP/2 server. */
  readonly readsTrailers: boolean;
  /** A gRPC call: lb's own errors are answered as gRPC. */
  readonly grpc: boolean;
}

/** Body chunks up to this size are copied rather than kept (see onData): cheaper than a new read buffer. */
const COPY_BYTES = 4096;

/**
 * An HTTP/1.1 response head as HTTP/2 response headers: hop-by-hop fields dropped (headers.ts),
 * names lower-case, repeated fields as lists. Node's http2 refuses what HTTP/2 cannot carry
 * (invalid characters, a repeated single-value field): the caller treats that as a bad response.
 */
export function http2ResponseHeaders(head: ResponseHead, setCookie: SetCookie, hsts: string | undefined): OutgoingHttpHeaders {
  const flat = downstreamResponseHeaders(head.rawHeaders, setCookie, hsts);
  const out: OutgoingHttpHeaders = { ':status': head.status };
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    const prior = out[name];
    out[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [String(prior), value];
  }
  return out;
}

/**
 * One attempt's response relayed from an HTTP/1.1 backend to an HTTP/2 stream, with backpressure
 * both ways (the stream's flow control). A client that resets the stream aborts the upstream request.
 */
export class Http2Relay extends Relay {
  private readonly onClientClose = () => this.stop(499, new ProxyError('client_abort'));
  private headStatus = 0;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly call: Http2Call,
    route: HttpRoute,
    backend: Backend,
    setCookie: SetCookie,
    hooks: ExchangeHooks,
    private readonly connection: Http2Connection,
  ) {
    super(route, backend, setCookie, hooks);
    this.hsts = connection.hsts;
    stream.once('close', this.onClientClose);
  }

  private readonly hsts: string | undefined;
  /** Runs while a write waits for the client's flow-control window: a client that keeps it shut loses the stream at timeouts.idle. */
  private windowTimer: NodeJS.Timeout | undefined;
  private readonly onWindowOpen = () => {
    clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    this.flow?.resume();
  };

  protected get responseStarted(): boolean {
    return this.stream.headersSent;
  }

  protected get status(): number {
    return this.headStatus;
  }

  protected get method(): string {
    return this.call.method;
  }

  onHeaders(head: ResponseHead, flow: BodyFlow): boolean {
    if (this.done || this.stream.destroyed) return false;
    this.flow = flow;
    try {
      // A chunked head is a body of unknown length, which an HTTP/2 server may end with trailers.
      this.waitsForTrailers = this.call.readsTrailers && head.bodyLength === CHUNKED;
      // No body: the head ends the stream (a gRPC trailers-only response must).
      this.stream.respond(http2ResponseHeaders(head, this.setCookie, this.hsts), head.bodyLength === 0 ? { endStream: true } : { waitForTrailers: this.waitsForTrailers });
      if (this.waitsForTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers ?? {}));
    } catch (err) {
      this.abortUpstream?.(new ProxyError('bad_response', (err as Error).message, { cause: err }));
      return false;
    }
    this.headStatus = head.status;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    // The stream holds what it is given until nghttp2 has sent it: a small chunk is copied (from
    // Node's buffer pool), a large one kept, and its read buffer given back once the write is done.
    let written: boolean;
    if (chunk.length <= COPY_BYTES) {
      written = this.stream.write(Buffer.from(chunk));
    } else {
      const giveBack = this.flow!.keep();
      written = this.stream.write(chunk, (err) => {
        if (!err) giveBack();
      });
    }
    if (written) return true;
    this.stream.once('drain', this.onWindowOpen);
    this.windowTimer ??= setTimeout(() => this.stop(408, new ProxyError('response_read_timeout', 'its HTTP/2 flow-control window stayed shut')), this.connection.idleMs);
    return false;
  }

  private trailers: Record<string, string | string[]> | undefined;
  /** The response went out with waitForTrailers: it ends with trailers, the server's or lb's. */
  private waitsForTrailers = false;

  onTrailers(trailers: readonly string[]): void {
    const out: Record<string, string | string[]> = {};
    for (let i = 0; i < trailers.length; i += 2) {
      const name = trailers[i]!;
      const prior = out[name];
      out[name] = prior === undefined ? trailers[i + 1]! : [...(Array.isArray(prior) ? prior : [prior]), trailers[i + 1]!];
    }
    this.trailers = out;
  }

  onComplete(): void {
    if (this.done) return;
    this.stream.end();
    // Trailers go after the end: a reset then would cut them off.
    if (!this.waitsForTrailers) stopRequestAfterResponse(this.stream);
    this.finish(this.headStatus, undefined);
  }

  /** A gRPC response cut short ends with lb's grpc-status in its trailers; any other is reset. */
  protected cut(error: ProxyError): void {
    if (this.call.grpc && this.waitsForTrailers && !this.stream.closed) {
      this.trailers = grpcErrorTrailers(error);
      this.stream.end();
      return;
    }
    // The client's shut window is found by this relay's timer or by the upstream connection's, whichever runs first: both reset alike.
    resetStream(this.stream, error.kind === 'response_read_timeout' ? constants.NGHTTP2_CANCEL : constants.NGHTTP2_INTERNAL_ERROR);
  }

  /** The call's deadline (grpc-timeout) passed: the server's request is aborted, the client told DEADLINE_EXCEEDED. */
  expire(error: ProxyError): void {
    if (this.done) return;
    super.stop(error.status, error);
    // A gRPC answer, which response edits leave as it is.
    if (!this.stream.headersSent) this.answer(error, undefined);
    else this.cut(error);
  }

  /** REFUSED_STREAM tells the client that the request was not processed and may be sent again (RFC 9113 §8.7). */
  protected hangUp(): void {
    resetStream(this.stream, constants.NGHTTP2_REFUSED_STREAM);
  }

  protected answer(error: ProxyError, edits: HeaderEdits | undefined): void {
    if (this.call.grpc) return sendGrpcError(this.stream, error);
    sendHttp2Response(this.stream, error.status, errorHeaders(error, edits), errorBody(error.status, error.message), this.hsts);
  }

  override stop(status: number, error: ProxyError): void {
    super.stop(status, error);
    if (!this.stream.closed) resetStream(this.stream, constants.NGHTTP2_CANCEL);
  }

  protected override release(): void {
    super.release();
    clearTimeout(this.windowTimer);
    this.stream.off('close', this.onClientClose);
    this.stream.off('drain', this.onWindowOpen);
  }
}
