import type { ServerResponse } from 'node:http';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import { relayableTrailers } from '../http1/chunked.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { ResponseHead } from '../http1/response-head.js';
import type { BodyFlow } from '../http1/upstream-connection.js';
import type { ExchangeHooks, SetCookie } from './client.js';
import { sendProxyError } from './error-response.js';
import { downstreamResponseHeaders } from './headers.js';
import { Relay } from './relay.js';

/**
 * One request that came through Node's http server (requests the fast path leaves to llhttp),
 * relayed to one backend: the response head and body are written to the client as they arrive,
 * with backpressure both ways, and a client that goes away aborts the upstream request.
 */
export class NodeRequestRelay extends Relay {
  private readonly onClientClose = () => this.stop(499, new ProxyError('client_abort'));

  constructor(
    private readonly res: ServerResponse,
    route: HttpRoute,
    backend: Backend,
    setCookie: SetCookie,
    hooks: ExchangeHooks,
    private readonly hsts?: string,
  ) {
    super(route, backend, setCookie, hooks);
    res.once('close', this.onClientClose);
  }

  /** The head went out with body bytes, or at the end of a read (onReadEnd). */
  private headWritten = false;

  protected get responseStarted(): boolean {
    return this.res.headersSent;
  }

  protected get status(): number {
    return this.res.statusCode;
  }

  protected get method(): string {
    return this.res.req.method ?? 'GET';
  }

  onHeaders(head: ResponseHead, flow: BodyFlow): boolean {
    if (this.done) return false;
    this.flow = flow;
    if (this.hooks.shutdown.closing) this.res.shouldKeepAlive = false;
    try {
      this.res.writeHead(head.status, head.statusText, downstreamResponseHeaders(head.rawHeaders, this.setCookie, this.hsts));
    } catch (err) {
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      // Node refuses header names or values that are not valid HTTP: the backend's fault.
      this.abortUpstream?.(new ProxyError('bad_response', (err as Error).message, { cause: err }));
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    this.headWritten = true;
    // ServerResponse may hold the chunk in its own queue: the upstream must not read over it.
    this.flow!.keep();
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  /**
   * ServerResponse sends its head with the first body bytes (headersSent is true before that): a
   * head that no body bytes followed in the same read of the server's is sent at its end.
   */
  onReadEnd(): void {
    if (this.done || this.headWritten) return;
    this.headWritten = true;
    this.res.flushHeaders();
  }

  /** Node writes them in the last chunk when the response is chunked (an HTTP/1.1 client), and drops them otherwise. */
  onTrailers(trailers: readonly string[]): void {
    if (!this.done) this.res.addTrailers(relayableTrailers(trailers));
  }

  onComplete(): void {
    if (this.done) return;
    this.res.end();
    this.finish(this.res.statusCode, undefined);
  }

  protected cut(error: ProxyError): void {
    this.res.destroy(error);
  }

  protected hangUp(): void {
    // Ended, not destroyed: the end of an earlier response may still be queued on the socket.
    this.res.socket?.end();
  }

  protected answer(error: ProxyError, edits: HeaderEdits | undefined): void {
    sendProxyError(this.res, error, this.hsts, edits);
  }

  protected override release(): void {
    super.release();
    this.res.off('close', this.onClientClose);
  }
}
