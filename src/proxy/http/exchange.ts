import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import { sendProxyError } from './error-response.js';
import type { ResponseHead } from '../http1/response-head.js';
import type { BodyFlow, StreamedBody } from '../http1/upstream-connection.js';
import type { ClientExchange, ExchangeHooks } from './client.js';
import { Relay } from './relay.js';
import { clientAddress, downstreamResponseHeaders, serializeRequestHead, upstreamRequestHeaders, type ForwardingFacts } from './headers.js';

/**
 * One request that came through Node's http server (requests the fast path leaves to llhttp),
 * relayed to one backend: the response head and body are written to the client as they arrive,
 * with backpressure both ways, and a client that goes away aborts the upstream request.
 */
export class Exchange extends Relay {
  private readonly onClientClose = () => this.stop(499, new ProxyError('client_abort'));

  constructor(
    private readonly res: ServerResponse,
    route: HttpRoute,
    backend: Backend,
    setCookie: string | undefined,
    hooks: ExchangeHooks,
  ) {
    super(route, backend, setCookie, hooks);
    res.once('close', this.onClientClose);
  }

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
      this.res.writeHead(head.status, head.statusText, downstreamResponseHeaders(head.rawHeaders, this.setCookie));
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

  protected cut(error: ProxyError): void {
    this.res.destroy(error);
  }

  protected hangUp(): void {
    // Ended, not destroyed: the end of an earlier response may still be queued on the socket.
    this.res.socket?.end();
  }

  protected answer(error: ProxyError): void {
    sendProxyError(this.res, error);
  }

  protected override release(): void {
    super.release();
    this.res.off('close', this.onClientClose);
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

/** Client connections that have already carried a request (on either path). */
const servedSockets = new WeakSet<object>();

/** A connection the fast path served requests on before it left it to Node's parser. */
export function markServed(socket: object): void {
  servedSockets.add(socket);
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
  readonly firstOnConnection: boolean;

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
    this.firstOnConnection = !servedSockets.has(req.socket);
    servedSockets.add(req.socket);
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

  readBody(done: (chunks: Buffer[]) => void): void {
    const chunks: Buffer[] = [];
    this.req.on('data', (chunk: Buffer) => chunks.push(chunk));
    this.req.once('end', () => done(chunks));
  }

  relay(route: HttpRoute, backend: Backend, setCookie: string | undefined, hooks: ExchangeHooks): Exchange {
    return new Exchange(this.res, route, backend, setCookie, hooks);
  }

  sendError(error: ProxyError): void {
    sendProxyError(this.res, error);
  }
}
