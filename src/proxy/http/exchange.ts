import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { classifyUpstreamError, ProxyError } from '../../errors.js';
import { sendProxyError } from './error-response.js';
import { downstreamResponseHeaders } from './headers.js';

export interface ExchangeOutcome {
  route: HttpRoute;
  backend: Backend;
  status: number;
  error: ProxyError | undefined;
  /** Request body bytes sent upstream, response body bytes sent to the client. */
  bytesIn: number;
  bytesOut: number;
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
 * One request relayed to one backend, as an undici dispatch handler (its raw, fastest API):
 * the response head and body are written to the client as they arrive, with backpressure both
 * ways, and a client that goes away aborts the upstream request.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private bytesIn = 0;
  private bytesOut = 0;
  private resumeUpstream: (() => void) | undefined;
  private done = false;
  private readonly onDrain = () => this.resumeUpstream?.();
  private readonly onClientClose = () => {
    if (this.done) return;
    const error = new ProxyError('client_abort');
    this.finish(499, error);
    this.abortUpstream?.(error);
  };

  constructor(
    private readonly res: ServerResponse,
    private readonly route: HttpRoute,
    private readonly backend: Backend,
    private readonly setCookie: string | undefined,
    private readonly hooks: ExchangeHooks,
  ) {
    backend.inFlight++;
    res.once('close', this.onClientClose);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.done) abort(new ProxyError('client_abort'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.done) return false;
    this.resumeUpstream = resume;
    if (this.hooks.shutdown.closing) this.res.shouldKeepAlive = false;
    try {
      this.res.writeHead(statusCode, statusText, downstreamResponseHeaders(rawHeaders, this.setCookie));
    } catch (err) {
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      // Node refuses header names or values that are not valid HTTP: the backend's fault.
      this.abortUpstream?.(new ProxyError('bad_response', (err as Error).message, { cause: err }));
      return false;
    }
    return true;
  }

  /** undici 7 passes the chunk itself, although its types declare its size. */
  onBodySent(chunk: unknown): void {
    this.bytesIn += typeof chunk === 'number' ? chunk : (chunk as Buffer | string).length;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    this.res.end();
    this.finish(this.res.statusCode, undefined);
  }

  onError(err: Error): void {
    if (this.done) return;
    const error = classifyUpstreamError(err);
    if (this.res.headersSent) {
      // The status line is gone; all we can still say is that the response is incomplete.
      this.res.destroy(error);
      this.finish(this.res.statusCode, error);
    } else {
      this.release();
      if (this.hooks.retry(error, this.backend)) return;
      this.hooks.done({ route: this.route, backend: this.backend, status: error.status, error, bytesIn: this.bytesIn, bytesOut: 0 });
      sendProxyError(this.res, error);
    }
  }

  private release(): void {
    this.done = true;
    this.backend.inFlight--;
    this.res.off('close', this.onClientClose);
  }

  private finish(status: number, error: ProxyError | undefined): void {
    this.release();
    this.hooks.done({ route: this.route, backend: this.backend, status, error, bytesIn: this.bytesIn, bytesOut: this.bytesOut });
  }
}

export function requestHasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
