import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { HttpSyntaxError, ProxyError } from '../../errors.js';
import { ChunkedDecoder } from '../http1/chunked.js';
import { DEFER, INCOMPLETE, parseRequestHead, type RequestHead } from '../http1/request-head.js';
import { CHUNKED, UNTIL_CLOSE, type ResponseHead } from '../http1/response-head.js';
import type { BodyFlow, StreamedBody, UpstreamHandler } from '../http1/upstream-connection.js';
import { Relay } from './relay.js';
import type { ClientExchange, ExchangeHooks } from './client.js';
import { rawErrorResponse } from './error-response.js';
import { clientAddress, downstreamResponseHead, ForwardedLines, upstreamRequestHead, type ForwardingFacts } from './headers.js';

/** What a client connection needs from its entrypoint. */
export interface ConnectionOwner {
  /** A parsed request, to route and forward. */
  handle(request: FastRequest): void;
  /** Leaves the connection to Node's http server (llhttp), with the bytes not yet parsed; `served`: requests came before. */
  defer(socket: Socket, unparsed: Buffer | undefined, served: boolean): void;
  /** The connection closed. */
  closed(connection: ClientConnection): void;
  readonly shutdown: { closing: boolean };
  /** The port connections arrive on. */
  readonly localPort: number;
}

/** Pipelined bytes held while a request is served; beyond this the socket stops being read. */
const MAX_QUEUED_BYTES = 64 * 1024;
/**
 * A head still incomplete after this many reads goes to llhttp, which parses as bytes arrive:
 * the fast path joins and rescans the whole head on every read, which a client sending a byte at
 * a time would turn into quadratic work.
 */
const MAX_HEAD_READS = 8;

/**
 * One client connection on the fast path: lb's strict parser reads each request head, one request
 * is served at a time (pipelined ones wait in order), and responses are written on the raw socket.
 * A request the parser does not accept is left, with the whole connection, to Node's llhttp.
 */
export class ClientConnection {
  private buffer: Buffer | undefined;
  private current: FastRequest | undefined;
  private parsing = false;
  /** When the head being received started (0: none), for the request head timeout. */
  headSince = 0;
  private headReads = 0;
  private requests = 0;
  /** The connection is closing after its last response: input is ignored. */
  private ending = false;
  /** When the connection last fell idle (no request in progress). */
  idleSince = performance.now();
  readonly clientIp: string;
  readonly localPort: number;
  readonly forwardedLines = new ForwardedLines();

  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner,
  ) {
    this.clientIp = clientAddress(socket.remoteAddress);
    this.localPort = owner.localPort;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', noop);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
  }

  get idle(): boolean {
    return this.current === undefined && this.headSince === 0;
  }

  /** Bytes for the request being served (its body) or queued behind it. */
  private readonly onData = (chunk: Buffer): void => {
    // After a response that ends the connection, nothing more is read as a request: the rest of
    // an unread body must never be taken for the next request head.
    if (this.ending) return;
    const request = this.current;
    if (request?.reading) {
      const used = request.feed(chunk, 0);
      if (used < chunk.length) this.queue(chunk.subarray(used));
      return;
    }
    this.queue(chunk);
    if (!request) this.next();
  };

  private queue(chunk: Buffer): void {
    this.buffer = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (this.current && this.buffer.length > MAX_QUEUED_BYTES) this.socket.pause();
  }

  /** Takes the queued bytes (a request body's first part, read with its head). */
  take(): Buffer | undefined {
    const bytes = this.buffer;
    this.buffer = undefined;
    return bytes;
  }

  /** Returns bytes that follow the current request's body (pipelined) to the queue. */
  putBack(bytes: Buffer): void {
    this.buffer = this.buffer ? Buffer.concat([bytes, this.buffer]) : bytes;
  }

  /** Parses and starts the next queued request, if a whole head is there. */
  private next(): void {
    if (this.parsing) return;
    this.parsing = true;
    try {
      while (!this.current && this.buffer && !this.socket.destroyed) {
        const buffer = this.buffer;
        const head = parseRequestHead(buffer, 0, buffer.length);
        if (head === INCOMPLETE) {
          if (this.headSince === 0) this.headSince = performance.now();
          if (++this.headReads > MAX_HEAD_READS) this.handOff();
          break;
        }
        if (head === DEFER) {
          this.handOff();
          break;
        }
        this.headSince = 0;
        this.headReads = 0;
        this.buffer = buffer.length > head.headBytes ? buffer.subarray(head.headBytes) : undefined;
        this.current = new FastRequest(this, head, this.requests++ === 0);
        this.owner.handle(this.current);
      }
    } finally {
      this.parsing = false;
    }
    if (!this.current && this.socket.isPaused()) this.socket.resume();
  }

  /** The response to the current request is complete. */
  finished(keepAlive: boolean): void {
    const request = this.current;
    this.current = undefined;
    this.idleSince = performance.now();
    if (!keepAlive || this.owner.shutdown.closing) {
      // A client that asked to close and sent nothing more is closed outright once the response
      // is out, as HAProxy does, rather than after its FIN: one read and one wake-up less per
      // connection. Any other client may still be sending, and closing over unread bytes would
      // send a reset that can destroy the response before the client reads it.
      if (request?.keepAlive === false && request.bodyRead && this.buffer === undefined) this.socket.once('finish', this.closeNow);
      this.end();
      return;
    }
    this.next();
  }

  /** Sends `last` (if any) and closes; whatever the client still sends is ignored. */
  end(last?: string): void {
    this.ending = true;
    this.buffer = undefined;
    if (last === undefined) this.socket.end();
    else this.socket.end(last, 'latin1');
  }

  private handOff(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', noop);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onClose);
    this.owner.closed(this);
    this.owner.defer(this.socket, this.take(), this.requests > 0);
  }

  /** The request head did not arrive in time. */
  headTimedOut(): void {
    this.headSince = 0;
    this.end(rawErrorResponse(408, 'the request head did not arrive in time'));
  }

  /**
   * The client half-closed. Like Node's http server (httpAllowHalfOpen off), that abandons the
   * request in progress; an idle connection is closed back.
   */
  private readonly onEnd = (): void => {
    if (this.current) {
      this.current.clientGone();
      this.socket.destroy();
    } else if (!this.socket.writableEnded) {
      // Ending twice would cost an ERR_STREAM_ALREADY_FINISHED, stack trace included, per connection.
      this.socket.end();
    }
  };

  private readonly closeNow = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.current?.clientGone();
    this.owner.closed(this);
  };
}

function noop(): void {}

const LAST_CHUNK_END = -1;

/** Bodies up to this size go out in the same write as the response head. */
const SMALL_BODY_BYTES = 16 * 1024;

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
  gone = false;
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
    this.bodyLeft = head.contentLength < 0 ? LAST_CHUNK_END : head.contentLength;
  }

  get headers(): Record<string, string> {
    return this.head.headers;
  }

  get rawHeaders(): string[] {
    return this.head.rawHeaders;
  }

  upstreamHead(facts: ForwardingFacts, reset: boolean): Buffer {
    return upstreamRequestHead(this.head, facts, reset, this.connection.forwardedLines);
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

  readBody(done: (chunks: Buffer[]) => void): void {
    const chunks: Buffer[] = [];
    this.start(
      (chunk) => {
        chunks.push(chunk);
        return true;
      },
      () => done(chunks),
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
    else this.connection.end(rawErrorResponse(400, `malformed or ambiguous request (${err.message})`, err.code));
  }

  relay(route: HttpRoute, backend: Backend, setCookie: string | undefined, hooks: ExchangeHooks): UpstreamHandler {
    return (this.relayInFlight = new FastRelay(this, route, backend, setCookie, hooks));
  }

  sendError(error: ProxyError): void {
    const keepAlive = this.keepAlive && this.bodyRead;
    const text = rawErrorResponse(error.status, error.message, error.code, keepAlive ? (this.acceptsChunked ? undefined : 'keep-alive') : 'close');
    this.connection.socket.write(text, 'latin1');
    this.connection.finished(keepAlive);
  }

  clientGone(): void {
    this.gone = true;
    this.relayInFlight?.stop(499, new ProxyError('client_abort'));
  }

  /** No more body bytes are relayed (the request was answered, or it broke). */
  stopBody(): void {
    this.sink = undefined;
    this.sinkEnd = undefined;
  }
}

/** One attempt's response, relayed from the backend to the client's socket as it arrives. */
class FastRelay extends Relay {
  /** The response head, not written yet: it goes out with the first body bytes. */
  private pendingHead: Buffer | undefined;
  /** Free bytes at the end of pendingHead, where a small body is copied to go out with it. */
  private pendingRoom = 0;
  private headStatus = 0;
  private keepAlive = false;
  /** The response head was accepted: errors after this point can only cut the connection. */
  answered = false;

  constructor(
    private readonly request: FastRequest,
    route: HttpRoute,
    backend: Backend,
    setCookie: string | undefined,
    hooks: ExchangeHooks,
  ) {
    super(route, backend, setCookie, hooks);
  }

  protected get responseStarted(): boolean {
    return this.answered;
  }

  protected get status(): number {
    return this.headStatus;
  }

  protected get method(): string {
    return this.request.method;
  }

  onHeaders(head: ResponseHead, flow: BodyFlow): boolean {
    if (this.done) return false;
    this.answered = true;
    this.flow = flow;
    this.headStatus = head.status;
    const request = this.request;
    const chunked = head.bodyLength === CHUNKED;
    // A body that ends with the backend's connection, or chunks a HTTP/1.0 client cannot read,
    // is delimited by closing the client's connection too.
    // So is a request whose body is not all read yet: an answer that does not wait for the body
    // leaves the rest of it on the connection, where no request can be found any more.
    this.keepAlive = request.keepAlive && request.bodyRead && !this.hooks.shutdown.closing && head.bodyLength !== UNTIL_CLOSE && !(chunked && !request.acceptsChunked);
    let extra = '';
    if (this.setCookie) extra += `Set-Cookie: ${this.setCookie}\r\n`;
    if (chunked && request.acceptsChunked) extra += 'Transfer-Encoding: chunked\r\n';
    if (!this.keepAlive) extra += 'Connection: close\r\n';
    else if (!request.acceptsChunked) extra += 'Connection: keep-alive\r\n';
    this.pendingRoom = head.bodyLength > 0 && head.bodyLength <= SMALL_BODY_BYTES ? head.bodyLength : 0;
    this.pendingHead = downstreamResponseHead(head, `${extra}\r\n`, this.pendingRoom);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return false;
    this.bytesOut += chunk.length;
    const socket = this.request.connection.socket;
    let flushed: boolean;
    if (this.pendingHead !== undefined) {
      const head = this.pendingHead;
      const headLength = head.length - this.pendingRoom;
      this.pendingHead = undefined;
      // Head and first body bytes in one write: one system call, one packet for small responses.
      if (chunk.length <= this.pendingRoom) {
        chunk.copy(head, headLength);
        flushed = socket.write(chunk.length === this.pendingRoom ? head : head.subarray(0, headLength + chunk.length));
      } else if (chunk.length <= SMALL_BODY_BYTES) {
        flushed = socket.write(Buffer.concat([head.subarray(0, headLength), chunk]));
      } else {
        socket.cork();
        socket.write(head.subarray(0, headLength));
        flushed = socket.write(chunk);
        socket.uncork();
      }
    } else {
      flushed = socket.write(chunk);
    }
    // A write that did not complete at once still points into the upstream's read buffer.
    if (socket.writableLength > 0) this.flow!.keep();
    if (flushed) return true;
    socket.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    const socket = this.request.connection.socket;
    if (this.pendingHead !== undefined) socket.write(this.pendingHead.subarray(0, this.pendingHead.length - this.pendingRoom));
    this.pendingHead = undefined;
    this.finish(this.headStatus, undefined);
    // A body the backend did not wait for (an early answer) leaves both connections unframed:
    // the client's closes after this response, the backend's is dropped with the rest unsent.
    const bodyRead = this.request.bodyRead;
    this.request.connection.finished(this.keepAlive && bodyRead);
    if (!bodyRead) {
      this.request.stopBody();
      this.abortUpstream?.(new ProxyError('client_abort', 'answered before the request body ended'));
    }
  }

  protected cut(): void {
    this.request.connection.socket.destroy();
  }

  protected hangUp(): void {
    // Ended, not destroyed: the end of an earlier response may still be queued on the socket.
    this.request.stopBody();
    this.request.connection.finished(false);
  }

  protected answer(error: ProxyError): void {
    if (!this.request.gone) this.request.sendError(error);
  }
}
