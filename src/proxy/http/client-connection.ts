import type { Socket } from 'node:net';
import type { TlsInfo } from '../../tls/terminator.js';
import { DEFER, INCOMPLETE, parseRequestHead } from '../http1/request-head.js';
import { rawErrorResponse } from './error-response.js';
import { FastRequest } from './fast-request.js';
import { clientAddress, ForwardedLines } from './headers.js';

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
  /** Header lines added to every response (HSTS on https entrypoints), each ending in CRLF; usually ''. */
  readonly responseHeaders: string;
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
  /** When the connection last fell idle (no request in progress, its last response handed to the socket; see idleExpired). */
  idleSince = performance.now();
  /** The socket's writableLength when the idle timeout last found the end of a response still queued (0: it did not). */
  private queuedAtIdle = 0;
  readonly clientIp: string;
  readonly localPort: number;
  readonly forwardedLines = new ForwardedLines();

  /** `clientIp`: the client's address when a PROXY header gave it. */
  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner,
    /** The TLS connection this is (https entrypoints). */
    readonly tls?: TlsInfo,
    /** The client's address when a PROXY header gave it. */
    clientIp?: string,
  ) {
    this.clientIp = clientIp ?? clientAddress(socket.remoteAddress);
    this.localPort = owner.localPort;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', noop);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
  }

  /** The client's bytes that were read before this connection took the socket (those after a PROXY header). */
  receive(bytes: Buffer): void {
    this.onData(bytes);
  }

  get idle(): boolean {
    return this.current === undefined && this.headSince === 0;
  }

  /** Header lines the entrypoint adds to every response: '' on most. */
  get responseHeaders(): string {
    return this.owner.responseHeaders;
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
    this.queuedAtIdle = 0;
    if (!keepAlive || this.owner.shutdown.closing) {
      // A client that asked to close and sent nothing more is closed outright once the response
      // is out, as HAProxy does, rather than after its FIN: one read and one wake-up less per
      // connection. Any other client may still be sending, and closing over unread bytes would
      // send a reset that can destroy the response before the client reads it.
      if (request?.keepAlive === false && request.bodyRead && this.buffer === undefined) {
        // The whole response in the kernel already, as usual: close() sends the FIN after it, so
        // end()'s shutdown() first would cost a system call and a tick (17 % of such a
        // connection's CPU). Over TLS, end() is what sends close_notify.
        if (this.socket.writableLength === 0 && this.tls === undefined) {
          this.ending = true;
          this.socket.destroy();
          return;
        }
        this.socket.once('finish', this.closeNow);
      }
      this.end();
      return;
    }
    this.next();
  }

  /**
   * Idle for the entrypoint's idle timeout since its last response was handed to the socket:
   * closed, unless the end of that response still waits in the socket for a slow reader who took
   * some of it since the last look; that one gets another idle period. Looked at when the timeout
   * expires rather than learnt after every response with an empty write behind it: a TLS socket
   * completes its writes late, so that write was made after every response, and over TLS an
   * empty write is a system call of its own (a third write per request, HAProxy makes two).
   */
  idleExpired(): void {
    const queued = this.socket.writableLength;
    if (queued > 0 && (this.queuedAtIdle === 0 || queued < this.queuedAtIdle)) {
      this.queuedAtIdle = queued;
      this.idleSince = performance.now();
      return;
    }
    this.socket.destroy();
  }

  /** Sends `last` (if any) and closes; whatever the client still sends is ignored. */
  end(last?: Buffer): void {
    this.ending = true;
    this.buffer = undefined;
    if (last === undefined) this.socket.end();
    else this.socket.end(last);
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
