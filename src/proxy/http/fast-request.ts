import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { HttpSyntaxError, ProxyError } from '../../errors.js';
import { ChunkedDecoder } from '../http1/chunked.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { RequestHead } from '../http1/request-head.js';
import type { StreamedBody, UpstreamHandler } from '../http1/upstream-connection.js';
import type { ClientConnection } from './client-connection.js';
import { bodyCollector, type BodyStall, type ClientExchange, type ExchangeHooks, type SetCookie } from './client.js';
import type { TlsInfo } from '../../tls/terminator.js';
import { proxyErrorResponse, rawErrorResponse, rawResponse } from './error-response.js';
import { FastRelay } from './fast-relay.js';
import { upstreamRequestHead, type ForwardingFacts, type RequestEdits } from './headers.js';

const LAST_CHUNK_END = -1;

/** One request read by the fast path, and the way its response goes back on the raw socket. */
export class FastRequest implements ClientExchange, StreamedBody {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly contentLength: number;
  readonly clientIp: string;
  readonly localPort: number;
  readonly acceptsChunked: boolean;
  readonly keepAlive: boolean;
  readonly tls: TlsInfo | undefined;
  gone = false;
  /** A body being read whole learns here that its client left. */
  private bodyGone: (() => void) | undefined;
  /** Body bytes still to come (CONTENT-LENGTH), or LAST_CHUNK_END for a chunked body. */
  private bodyLeft: number;
  private decoder: ChunkedDecoder | undefined;
  private sink: ((chunk: Buffer) => boolean) | undefined;
  private sinkEnd: (() => void) | undefined;
  started = false;
  private relayInFlight: FastRelay | undefined;

  constructor(
    readonly connection: ClientConnection,
    private readonly head: RequestHead,
    readonly firstOnConnection: boolean,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.host = head.host;
    this.contentLength = head.contentLength;
    this.clientIp = connection.clientIp;
    this.localPort = connection.localPort;
    this.acceptsChunked = head.versionMinor === 1;
    this.keepAlive = head.keepAlive;
    this.tls = connection.tls;
    this.bodyLeft = head.contentLength < 0 ? LAST_CHUNK_END : head.contentLength;
  }

  get socket(): Socket {
    return this.connection.socket;
  }

  get headers(): Record<string, string> {
    return this.head.headers;
  }

  get rawHeaders(): string[] {
    return this.head.rawHeaders;
  }

  upstreamHead(facts: ForwardingFacts, reset: boolean, edits?: RequestEdits): Buffer {
    return upstreamRequestHead(this.head, facts, reset, this.connection.forwardedLines, edits);
  }

  /** Whether the body is being read into a sink (bytes go to feed()). */
  get reading(): boolean {
    return this.sink !== undefined;
  }

  /** Whether the whole body has been read, so the next request can be parsed after this one. */
  get bodyRead(): boolean {
    return this.bodyLeft === 0;
  }

  streamBody(): StreamedBody {
    return this;
  }

  start(write: (chunk: Buffer) => boolean, end: () => void): void {
    this.started = true;
    this.sink = write;
    this.sinkEnd = end;
    const queued = this.connection.take();
    if (queued) {
      const used = this.feed(queued, 0);
      if (used < queued.length) this.connection.putBack(queued.subarray(used));
    }
    if (this.reading && this.connection.socket.isPaused()) this.connection.socket.resume();
  }

  resume(): void {
    if (this.sink) this.connection.socket.resume();
  }

  readBody(done: (chunks: Buffer[]) => void, stall: BodyStall): void {
    const body = bodyCollector(stall, done);
    this.bodyGone = body.gone;
    this.start(
      (chunk) => {
        body.chunk(chunk);
        return true;
      },
      body.end,
    );
  }

  /** Body bytes from `at`; returns where this request's body ended in `chunk`. */
  feed(chunk: Buffer, at: number): number {
    let end: number;
    try {
      if (this.bodyLeft === LAST_CHUNK_END) {
        this.decoder ??= new ChunkedDecoder();
        end = this.decoder.feed(chunk, at, chunk.length);
        if (this.decoder.done) this.bodyLeft = 0;
      } else {
        end = at + Math.min(this.bodyLeft, chunk.length - at);
        this.bodyLeft -= end - at;
      }
    } catch (err) {
      this.badBody(err as HttpSyntaxError);
      return chunk.length;
    }
    const sink = this.sink!;
    if (end > at && !sink(at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end))) this.connection.socket.pause();
    if (this.bodyLeft === 0) {
      const done = this.sinkEnd!;
      this.sink = undefined;
      this.sinkEnd = undefined;
      done();
    }
    return end;
  }

  /** A chunked body that breaks the rules: 400, and the connection closes (framing is lost). */
  private badBody(err: HttpSyntaxError): void {
    this.stopBody();
    const relay = this.relayInFlight;
    if (relay && !relay.answered) {
      relay.stop(400, new ProxyError('client_abort', `malformed request body (${err.message})`));
    }
    if (relay?.answered) this.connection.socket.destroy();
    else this.connection.end(rawErrorResponse(400, `malformed or ambiguous request (${err.message})`, err.code, 'close', this.connection.responseHeaders));
  }

  relay(route: HttpRoute, backend: Backend, setCookie: SetCookie, hooks: ExchangeHooks): UpstreamHandler {
    return (this.relayInFlight = new FastRelay(this, route, backend, setCookie, hooks));
  }

  sendError(error: ProxyError, edits: HeaderEdits | undefined): void {
    this.sendRaw((connection) => proxyErrorResponse(error, connection, this.connection.responseHeaders, edits));
  }

  respond(status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer): void {
    this.sendRaw((connection) => rawResponse(status, headers, body, connection, this.connection.responseHeaders));
  }

  /** An unread body stays on the connection, where no request can be found any more: close it then. */
  private sendRaw(response: (connection: 'close' | 'keep-alive' | undefined) => Buffer): void {
    if (this.gone) return;
    const keepAlive = this.keepAlive && this.bodyRead;
    this.connection.socket.write(response(keepAlive ? (this.acceptsChunked ? undefined : 'keep-alive') : 'close'));
    this.connection.finished(keepAlive);
  }

  clientGone(): void {
    this.gone = true;
    this.bodyGone?.();
    this.relayInFlight?.stop(499, new ProxyError('client_abort'));
  }

  /** No more body bytes are relayed (the request was answered, or it broke). */
  stopBody(): void {
    this.sink = undefined;
    this.sinkEnd = undefined;
  }
}
