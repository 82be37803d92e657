import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import { copyBytes } from '../http1/bytes.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import { CHUNKED, UNTIL_CLOSE, type ResponseHead } from '../http1/response-head.js';
import type { BodyFlow } from '../http1/upstream-connection.js';
import type { ExchangeHooks, SetCookie } from './client.js';
import type { FastRequest } from './fast-request.js';
import { downstreamResponseHead, setCookieLines } from './headers.js';
import { Relay } from './relay.js';

/** Bodies up to this size go out in the same write as the response head. */
const SMALL_BODY_BYTES = 16 * 1024;

/** One attempt's response, relayed from the backend to the client's socket as it arrives. */
export class FastRelay extends Relay {
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
    setCookie: SetCookie,
    hooks: ExchangeHooks,
  ) {
    super(route, backend, setCookie, hooks);
  }

  /** Bytes of the response went to the client: the head is held only within one read of the server's. */
  protected get responseStarted(): boolean {
    return this.answered && this.pendingHead === undefined;
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
    let extra = request.connection.responseHeaders;
    if (this.setCookie) extra += setCookieLines(this.setCookie);
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
    // Over TLS a write is encrypted (copied) at once, unless an earlier write is still in flight and
    // this one waits in the stream's queue: only then does the chunk stay referenced.
    const queued = this.request.connection.tls !== undefined && socket.writableLength > 0;
    let flushed: boolean;
    if (this.pendingHead !== undefined) {
      const head = this.pendingHead;
      const headLength = head.length - this.pendingRoom;
      this.pendingHead = undefined;
      // Head and first body bytes in one write: one system call, one packet for small responses.
      if (chunk.length <= this.pendingRoom) {
        copyBytes(chunk, head, headLength, 0, chunk.length);
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
    // A write that did not complete at once still points into the upstream's read buffer (on
    // plain TCP, libuv writes from it). Over TLS, Node encrypts what it is given as it is written,
    // so a write in flight holds no chunk of ours: only one queued behind it does.
    if (this.request.connection.tls !== undefined ? queued : socket.writableLength > 0) this.flow!.keep();
    if (flushed) return true;
    socket.once('drain', this.onDrain);
    return false;
  }

  /**
   * The head waits for body bytes of the same read of the server's, to go out in one write; a
   * server that sends its head and then waits (a stream, events) has it sent at the end of that read.
   */
  onReadEnd(): void {
    if (!this.done) this.writePendingHead();
  }

  private writePendingHead(): void {
    if (this.pendingHead === undefined) return;
    const head = this.pendingHead;
    this.pendingHead = undefined;
    if (!this.request.connection.socket.write(head.subarray(0, head.length - this.pendingRoom))) this.request.connection.socket.once('drain', this.onDrain);
  }

  onComplete(): void {
    if (this.done) return;
    this.writePendingHead();
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

  protected answer(error: ProxyError, edits: HeaderEdits | undefined): void {
    if (!this.request.gone) this.request.sendError(error, edits);
  }
}
