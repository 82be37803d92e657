import type { NetConnectOpts, Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { classifyUpstreamError, HttpSyntaxError, ProxyError } from '../../errors.js';
import { connectUpstream } from '../../tls/upstream.js';
import { ReadBuffer } from '../read-buffers.js';
import { ChunkedDecoder } from './chunked.js';
import type { MinBodyRate } from '../../config/types.js';
import { unwatch, uploadRateDeadline, watch, type Timed } from '../deadlines.js';
import type { HeaderEdits } from './header-edits.js';
import { CHUNKED, parseResponseHead, UNTIL_CLOSE, type ResponseHead } from './response-head.js';

/**
 * How long a server that names no Keep-Alive timeout is taken to keep an idle connection open:
 * under the shortest default of common servers (gunicorn 2 s; Node and Apache 5 s, nginx 75 s).
 */
const ASSUMED_FRESH_MS = 1_000;
/** Taken off a server's Keep-Alive timeout: its timer and the network may run ahead of lb's clock. */
const FRESH_MARGIN_MS = 1_000;

/** How long a connection that will not be reused waits for the server to close it first. */
const RETIRE_MS = 1_000;

/** A request body that arrives while it is sent (a client upload): bytes already framed. */
/** One server: `tls`, the options of its TLS connections (see tls/upstream.ts), for https:// servers. */
export interface UpstreamOrigin {
  readonly host: string;
  readonly port: number;
  readonly tls: ConnectionOptions | undefined;
}

export interface StreamedBody {
  /** Starts the flow; `write` returning false asks for a pause until `resume()`. */
  start(write: (chunk: Buffer) => boolean, end: () => void): void;
  resume(): void;
  /** Whether any byte was taken from the client: then the request cannot be sent again. */
  readonly started: boolean;
}

export interface UpstreamRequest {
  method: string;
  /** The whole request head, framing and Connection headers included. */
  head: Buffer;
  /** A body read whole comes as the chunks it was read in: joining them would copy it. */
  body: Buffer[] | StreamedBody | null;
  /** Close the connection after this request (it is not reused). */
  reset: boolean;
  /**
   * A non-idempotent request (`unsafeReuse: fresh`): only an idle connection that the server will
   * keep open for a while yet may carry it (UpstreamConnection.fresh); else a new one.
   */
  freshOnly: boolean;
  headersTimeout: number;
  bodyTimeout: number;
  /** The longest pause of the client in a streamed request body (the entrypoint's timeouts.requestBody). */
  requestBodyTimeout: number;
  /** The slowest average rate of a streamed request body (the entrypoint's minRequestBodyRate). */
  minRequestBodyRate: MinBodyRate | undefined;
  /** The longest time the client may leave the response unread (the entrypoint's timeouts.idle). */
  responseReadTimeout: number;
  /** Relay a chunked response body as sent (chunk sizes included) instead of decoding it. */
  rawChunked: boolean;
  /** The router's response edits (middlewares), carried by the response head (ResponseHead.edits). */
  responseEdits: HeaderEdits | undefined;
}

/** How a handler steers the response body: pause and resume it, or keep a chunk it was lent. */
export interface BodyFlow {
  resume(): void;
  /**
   * The last chunk given to onData is still referenced (a socket write that did not complete):
   * the connection then reads into a new buffer instead of reusing that one. Returns what to call
   * once the chunk is no longer needed, so that its buffer can be read into again (optional).
   */
  keep(): () => void;
}

/**
 * What a request tells its caller, in order: connect, headers, data..., then complete or error.
 * The head and every chunk are lent: they live in a buffer the connection reads into again, so
 * they are only valid during the call, unless the handler calls `flow.keep()`.
 */
export interface UpstreamHandler {
  onConnect(abort: (err?: Error) => void): void;
  /** Returns false to pause the body until `flow.resume()`. */
  onHeaders(head: ResponseHead, flow: BodyFlow): boolean;
  /** Returns false to pause until `flow.resume()`. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
  onBodySent(bytes: number): void;
  /** The response's trailers, [name, value, ...], before onComplete: only HTTP/2 servers give them (http2/upstream.ts). */
  onTrailers?(trailers: readonly string[]): void;
  /** Everything read from the server so far has been handed over (the end of one read). */
  onReadEnd?(): void;
}

const enum Phase {
  Idle,
  Head,
  Body,
  Closed,
}

/**
 * One keep-alive connection to a backend, carrying one request at a time: it writes the request
 * head (and body), parses the response with lb's strict parser and hands it to the handler.
 */
export class UpstreamConnection implements Timed {
  readonly socket: Socket;
  /** When the response head or the next body bytes are due (see deadlines.ts); 0: nothing due. */
  deadline = 0;
  /** The deadline running is the client's, for the next bytes of its request body (an upload). */
  private clientDeadline = false;
  /** A streamed request body is still coming from the client. */
  private uploading = false;
  /** Since when, and how many bytes, the upload has come while lb was reading it (for minRequestBodyRate). */
  private uploadSince = 0;
  private uploadBytes = 0;
  /** The response is paused because the client does not read it: the deadline is the client's. */
  private waitingForClient = false;
  private phase = Phase.Idle;
  private handler: UpstreamHandler | undefined;
  private request: UpstreamRequest | undefined;
  private head: ResponseHead | undefined;
  private pending: Buffer | undefined;
  private readonly readBuffer = new ReadBuffer();
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  private requestSent = false;
  /** Requests sent on this connection, the one in flight included. */
  private requests = 0;
  private connected = false;
  private sawResponseByte = false;
  lastUsed = 0;
  /** How long after its last response the server is sure to keep this connection open (see fresh). */
  private freshForMs = ASSUMED_FRESH_MS;

  constructor(
    origin: UpstreamOrigin,
    connectMs: number,
    private readonly onReusable: (conn: UpstreamConnection) => void,
    private readonly onGone: (conn: UpstreamConnection) => void,
    /** Bytes sent before any request, and before TLS: a client's PROXY protocol header. */
    prefix?: Buffer,
  ) {
    const { host, port, tls } = origin;
    const tcp: NetConnectOpts = { port, host, noDelay: true };
    // TLS sockets read as streams (below); plain ones read into this connection's buffer.
    if (!tls) {
      tcp.onread = {
        buffer: () => this.readBuffer.next(),
        callback: (bytes, buf) => {
          this.onSocketData((buf as Buffer).subarray(0, bytes));
          // Pauses go through socket.pause(), which onread sockets honour too.
          return true;
        },
      };
    }
    this.socket = connectUpstream(tcp, tls && { ...tls, ALPNProtocols: ['http/1.1'] }, prefix);
    // The socket's own timeout covers connecting and retiring; requests have deadlines.
    this.socket.setTimeout(connectMs);
    this.socket.once(origin.tls ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      this.socket.setTimeout(0);
      if (this.phase === Phase.Head) this.due();
    });
    watch(this);
    // TLS sockets read as streams: every chunk is a new buffer.
    if (origin.tls) this.socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    this.socket.on('timeout', () => this.onTimeout());
    this.socket.on('end', () => this.onSocketEnd());
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      unwatch(this);
      this.readBuffer.release();
      this.fail(undefined);
      this.onGone(this);
    });
  }

  /** Whether the connection can still carry requests (open, not closing). */
  get usable(): boolean {
    return this.phase !== Phase.Closed && !this.socket.destroyed;
  }

  /**
   * Whether the server cannot be closing this usable idle connection for idleness yet: it has been idle
   * for less than the server's Keep-Alive timeout less a margin, or, where the server did not say
   * one, less than ASSUMED_FRESH_MS. Only then may a request that must not be lost use it.
   */
  get fresh(): boolean {
    return performance.now() - this.lastUsed < this.freshForMs;
  }

  send(request: UpstreamRequest, handler: UpstreamHandler): void {
    this.phase = Phase.Head;
    this.request = request;
    this.handler = handler;
    this.head = undefined;
    this.requestSent = false;
    this.uploading = request.body !== null && !Array.isArray(request.body);
    this.sawResponseByte = false;
    this.requests++;
    const socket = this.socket;
    const head = request.head;
    // A streamed body's rate deadline counts from here, set before due(): on a reused connection
    // these still hold the last upload's.
    if (this.uploading) {
      this.uploadSince = performance.now();
      this.uploadBytes = 0;
    }
    // Until connected, the connect timeout runs; requests written before are buffered by Node.
    if (this.connected) this.due();
    const body = request.body;
    if (body === null) {
      socket.write(head);
      this.requestSent = true;
    } else if (Array.isArray(body)) {
      socket.cork();
      socket.write(head);
      let bytes = 0;
      for (const chunk of body) {
        socket.write(chunk);
        bytes += chunk.length;
      }
      socket.uncork();
      this.requestSent = true;
      handler.onBodySent(bytes);
    } else {
      socket.write(head);
      // While the server did not read, the client could not send: its rate is measured afresh.
      const resume = () => {
        if (this.handler !== handler) return;
        this.uploadSince = performance.now();
        this.uploadBytes = 0;
        if (this.connected && this.phase === Phase.Head) this.due();
        body.resume();
      };
      body.start(
        (chunk) => {
          if (this.handler !== handler) return true;
          handler.onBodySent(chunk.length);
          this.uploadBytes += chunk.length;
          // An upload that moves keeps its request alive, as a socket timeout would.
          if (this.connected) this.due();
          if (socket.write(chunk)) return true;
          // The server is not reading: its time, not the client's, until it drains.
          if (this.connected && this.phase === Phase.Head) this.due(request.headersTimeout);
          socket.once('drain', resume);
          return false;
        },
        () => {
          if (this.handler !== handler) return;
          this.requestSent = true;
          this.uploading = false;
          // The server has the whole request: its response head is due from now.
          if (this.connected && this.phase === Phase.Head) this.due();
          // The response may have finished before the upload did (an early answer).
          if (this.phase === Phase.Idle) this.afterResponse();
        },
      );
    }
  }

  /** Stops the exchange in flight: the connection cannot be reused after that. */
  abort(err?: Error): void {
    this.handler = undefined;
    this.destroy(err);
  }

  destroy(err?: Error): void {
    this.phase = Phase.Closed;
    this.socket.destroy(err);
  }

  /** Stop waiting when paused by the handler. */
  private readonly flow: BodyFlow = {
    resume: () => {
      if (this.phase === Phase.Closed) return;
      if (this.waitingForClient) {
        this.waitingForClient = false;
        if (this.phase === Phase.Body) this.due(this.request!.bodyTimeout);
      }
      this.socket.resume();
    },
    keep: () => this.readBuffer.keep(),
  };


  private onSocketData(chunk: Buffer): void {
    if (!this.handler) {
      // Bytes while no request is in flight: the backend broke HTTP; this socket is unusable.
      this.destroy();
      return;
    }
    this.sawResponseByte = true;
    try {
      this.consume(chunk);
    } catch (err) {
      this.fail(err instanceof HttpSyntaxError ? err : new HttpSyntaxError(String(err)));
      return;
    }
    if (this.phase === Phase.Body) {
      if (!this.waitingForClient) this.due(this.request!.bodyTimeout);
      this.handler?.onReadEnd?.();
    }
  }

  private consume(chunk: Buffer): void {
    let at = 0;
    if (this.phase === Phase.Head) {
      const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      this.pending = undefined;
      let offset = 0;
      for (;;) {
        const head = parseResponseHead(buf, offset, buf.length, this.request!.method === 'HEAD', this.request!.responseEdits);
        if (!head) {
          // Copied: the read buffer is reused.
          this.pending = Buffer.from(buf.subarray(offset));
          return;
        }
        offset += head.headBytes;
        // 1xx (100 Continue, 103 Early Hints) are skipped: the final response follows.
        if (head.status >= 200) {
          this.startBody(head);
          break;
        }
        if (head.status === 101) throw new HttpSyntaxError('101 Switching Protocols to a request that did not ask for it');
      }
      chunk = buf;
      at = offset;
      const head = this.head!;
      if (!this.handler!.onHeaders(head, this.flow)) this.pauseForClient();
      // The handler may have aborted the exchange from onHeaders.
      if ((this.phase as Phase) === Phase.Closed) return;
      if (head.bodyLength === 0) {
        this.complete(at < chunk.length);
        return;
      }
    }
    if (this.phase === Phase.Body) this.consumeBody(chunk, at);
  }

  private startBody(head: ResponseHead): void {
    this.head = head;
    this.phase = Phase.Body;
    if (head.bodyLength === CHUNKED) {
      const raw = this.request!.rawChunked;
      this.decoder = new ChunkedDecoder(raw ? undefined : (data) => this.deliver(data));
    } else {
      this.decoder = undefined;
      this.remaining = head.bodyLength;
    }
  }

  private consumeBody(chunk: Buffer, at: number): void {
    const head = this.head!;
    if (at >= chunk.length) return;
    if (head.bodyLength === UNTIL_CLOSE) {
      this.deliver(at === 0 ? chunk : chunk.subarray(at));
      return;
    }
    if (this.decoder) {
      const end = this.decoder.feed(chunk, at, chunk.length);
      if (this.request!.rawChunked) this.deliver(at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end));
      if (this.decoder.done) this.complete(end < chunk.length);
      return;
    }
    const take = Math.min(this.remaining, chunk.length - at);
    if (take > 0) {
      this.remaining -= take;
      this.deliver(at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take));
    }
    if (this.remaining === 0) this.complete(at + take < chunk.length);
  }

  private deliver(data: Buffer): void {
    if (data.length > 0 && this.handler && !this.handler.onData(data)) this.pauseForClient();
  }

  /**
   * The client's socket is full: stop reading the server, so that what a client leaves unread
   * stays within the sockets' buffers. A stall from now on is the client's, not the server's.
   */
  private pauseForClient(): void {
    this.socket.pause();
    this.waitingForClient = true;
    this.deadline = performance.now() + this.request!.responseReadTimeout;
  }

  private complete(extraBytes = false): void {
    const handler = this.handler;
    if (!handler) return;
    this.phase = this.head!.keepAlive ? Phase.Idle : Phase.Closed;
    const timeoutS = this.head!.keepAliveTimeoutS;
    if (timeoutS !== undefined) this.freshForMs = timeoutS * 1000 - FRESH_MARGIN_MS;
    this.waitingForClient = false;
    this.decoder = undefined;
    this.handler = undefined;
    // Bytes beyond the response: the backend broke framing; nothing more can be read from it.
    if (extraBytes) this.destroy();
    // Back in the pool before the handler hears of it: a pipelined request that it starts at once
    // then finds this connection idle, rather than opening another.
    else if (this.requestSent) this.afterResponse();
    handler.onComplete();
  }

  private afterResponse(): void {
    if (this.socket.destroyed) return;
    if (this.phase === Phase.Idle && !this.request!.reset) {
      this.request = undefined;
      this.lastUsed = performance.now();
      this.deadline = 0;
      if (this.socket.isPaused()) this.socket.resume();
      this.onReusable(this);
      return;
    }
    this.retire();
  }

  /**
   * A connection that is done after this response (Connection: close either way). The server is
   * about to close it, so lb waits for its FIN rather than sending the first one: the TIME_WAIT
   * state then stays with the server, and lb's ephemeral ports are not used up when every
   * request opens a connection (`unsafeReuse: never` sends each non-idempotent request on a
   * connection of its own).
   */
  private retire(): void {
    this.phase = Phase.Closed;
    this.deadline = 0;
    if (this.socket.readableEnded) {
      this.socket.destroy();
      return;
    }
    this.socket.setTimeout(RETIRE_MS);
    if (this.socket.isPaused()) this.socket.resume();
  }

  private onSocketEnd(): void {
    if (this.phase === Phase.Body && this.head?.bodyLength === UNTIL_CLOSE) {
      this.complete();
      return;
    }
    this.fail(undefined);
  }

  /** The socket timeout: connecting took too long, or a retiring connection was not closed by the server. */
  private onTimeout(): void {
    if (this.phase === Phase.Closed) return this.destroy();
    if (!this.connected) this.fail(new ProxyError('connect_timeout'));
  }

  /**
   * Sets the deadline, by default the one the exchange is waiting on: the client's next body bytes
   * while it uploads (before a response), else the server's response head, or its next body bytes.
   */
  private due(ms?: number): void {
    const request = this.request!;
    const now = performance.now();
    this.clientDeadline = ms === undefined && this.uploading && this.phase === Phase.Head;
    if (this.clientDeadline) {
      const rate = request.minRequestBodyRate;
      this.deadline = Math.min(now + request.requestBodyTimeout, rate ? uploadRateDeadline(this.uploadSince, this.uploadBytes, rate) : Infinity);
      return;
    }
    this.deadline = now + (ms ?? (this.phase === Phase.Body ? request.bodyTimeout : request.headersTimeout));
  }

  /** The request's deadline passed. */
  expired(): void {
    if (this.clientDeadline && this.uploading) return this.fail(new ProxyError('request_body_timeout'));
    if (this.waitingForClient) return this.fail(new ProxyError('response_read_timeout'));
    if (this.phase === Phase.Head) return this.fail(new ProxyError('response_timeout'));
    if (this.phase === Phase.Body) return this.fail(new ProxyError('body_timeout'));
    // Answered, but the request body never finished (its client went away): nothing will.
    if (this.request && !this.requestSent) this.destroy();
  }

  /**
   * Before the connection is established (TCP connect, then the TLS handshake), any failure means
   * the request never reached the server: a refused connection, a certificate lb does not trust.
   */
  private classify(err: Error): ProxyError {
    const error = classifyUpstreamError(err);
    if (this.connected || error.kind === 'connect_timeout' || error.kind === 'connect_refused') return error;
    return new ProxyError('connect_refused', (err as NodeJS.ErrnoException).code ?? err.message, { cause: err });
  }

  /** The connection ended or broke: the request in flight, if any, fails. */
  private fail(err: Error | undefined): void {
    const handler = this.handler;
    this.handler = undefined;
    this.phase = Phase.Closed;
    if (!this.socket.destroyed) this.socket.destroy();
    if (!handler) return;
    const error = err ? this.classify(err) : new ProxyError('reset', this.sawResponseByte ? 'the backend closed the connection mid-response' : 'the backend closed the connection');
    error.responseStarted = this.sawResponseByte;
    error.reusedConnection = this.requests > 1;
    handler.onError(error);
  }
}
