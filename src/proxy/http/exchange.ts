import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { classifyUpstreamError, ProxyError } from '../../errors.js';
import { sendProxyError } from './error-response.js';
import type { ResponseHead } from '../http1/response-head.js';
import type { BodyFlow, StreamedBody, UpstreamHandler } from '../http1/upstream-connection.js';
import type { ClientExchange, ExchangeHooks } from './client.js';
import { clientAddress, downstreamResponseHeaders, serializeRequestHead, upstreamRequestHeaders, type ForwardingFacts } from './headers.js';

/**
 * One request that came through Node's http server (requests the fast path leaves to llhttp),
 * relayed to one backend: the response head and body are written to the client as they arrive,
 * with backpressure both ways, and a client that goes away aborts the upstream request.
 */
export class Exchange implements UpstreamHandler {
  private abortUpstream: ((err?: Error) => void) | undefined;
  private bytesIn = 0;
  private bytesOut = 0;
  private flow: BodyFlow | undefined;
  private done = false;
  private readonly onDrain = () => this.flow?.resume();
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

  onHeaders(head: ResponseHead, flow: BodyFlow): boolean {
    if (this.done) return false;
    this.flow = flow;
    if (this.hooks.shutdown.closing) this.res.shouldKeepAlive = false;
    try {
      this.res.writeHead(head.status, head.statusText, downstreamResponseHeaders(head.rawHeaders, this.setCookie));
    } catch (err) {
      for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      // Node refuses header names or values that are not valid HTTP: the backend's fault.
      this.abortUpstream?.(new ProxyError('bad_response', (err as Error).message, { cause: err }));
      return false;
    }
    return true;
  }

  onBodySent(bytes: number): void {
    this.bytesIn += bytes;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    // ServerResponse may hold the chunk in its own queue: the upstream must not read over it.
    this.flow!.keep();
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

const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * A request body read through Node (which decoded any chunking), framed again for the backend:
 * as is when its length is known, otherwise re-chunked.
 */
function incomingBody(req: IncomingMessage): StreamedBody {
  const chunked = req.headers['content-length'] === undefined;
  return {
    get started() {
      return req.readableDidRead;
    },
    start(write, end) {
      req.on('data', (chunk: Buffer) => {
        const ok = chunked ? write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])) : write(chunk);
        if (!ok) req.pause();
      });
      req.once('end', () => {
        if (chunked) write(LAST_CHUNK);
        end();
      });
    },
    resume() {
      req.resume();
    },
  };
}

/** A request that Node's http server parsed (llhttp), answered through its ServerResponse. */
export class NodeClient implements ClientExchange {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: string[];
  readonly clientIp: string;
  readonly localPort: number;
  readonly contentLength: number;
  readonly acceptsChunked = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
    this.url = req.url ?? '/';
    this.host = req.headers.host ?? '';
    this.headers = req.headers;
    this.rawHeaders = req.rawHeaders;
    this.clientIp = clientAddress(req.socket.remoteAddress);
    this.localPort = req.socket.localPort ?? 0;
    const length = req.headers['content-length'];
    this.contentLength = length !== undefined ? Number(length) : req.headers['transfer-encoding'] !== undefined ? -1 : 0;
  }

  get gone(): boolean {
    return this.res.destroyed;
  }

  upstreamHead(facts: ForwardingFacts, reset: boolean): Buffer {
    const headers = upstreamRequestHeaders(this, facts);
    // Transfer-Encoding is hop-by-hop: a body of unknown length goes on chunked.
    if (this.contentLength < 0) headers.push('Transfer-Encoding', 'chunked');
    return serializeRequestHead(this.method, this.url, headers, reset);
  }

  streamBody(): StreamedBody {
    return incomingBody(this.req);
  }

  readBody(done: (body: Buffer) => void): void {
    const chunks: Buffer[] = [];
    this.req.on('data', (chunk: Buffer) => chunks.push(chunk));
    this.req.once('end', () => done(Buffer.concat(chunks)));
  }

  relay(route: HttpRoute, backend: Backend, setCookie: string | undefined, hooks: ExchangeHooks): Exchange {
    return new Exchange(this.res, route, backend, setCookie, hooks);
  }

  sendError(error: ProxyError): void {
    sendProxyError(this.res, error);
  }
}
