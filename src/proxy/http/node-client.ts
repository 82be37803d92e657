import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import type { ProxyError } from '../../errors.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { StreamedBody } from '../http1/upstream-connection.js';
import { bodyCollector, type BodyStall, type ClientExchange, type ExchangeHooks, type SetCookie } from './client.js';
import { tlsInfoOf, type TlsInfo } from '../../tls/terminator.js';
import { sendProxyError, sendResponse } from './error-response.js';
import { serializeRequestHead, upstreamRequestHeaders, type ForwardingFacts, type RequestEdits } from './headers.js';
import { NodeRequestRelay } from './node-request-relay.js';
import { peerAddress } from '../accept-proxy.js';

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
  readonly tls: TlsInfo | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    /** The entrypoint's Strict-Transport-Security value, if it sets one. */
    private readonly hsts?: string,
  ) {
    this.method = req.method ?? 'GET';
    this.url = req.url ?? '/';
    this.host = req.headers.host ?? '';
    this.headers = req.headers;
    this.rawHeaders = req.rawHeaders;
    this.clientIp = peerAddress(req.socket);
    this.localPort = req.socket.localPort ?? 0;
    this.tls = tlsInfoOf(req.socket);
    this.firstOnConnection = !servedSockets.has(req.socket);
    servedSockets.add(req.socket);
    const length = req.headers['content-length'];
    this.contentLength = length !== undefined ? Number(length) : req.headers['transfer-encoding'] !== undefined ? -1 : 0;
  }

  get gone(): boolean {
    return this.res.destroyed;
  }

  get socket(): Socket {
    return this.req.socket;
  }

  upstreamHead(facts: ForwardingFacts, reset: boolean, edits?: RequestEdits): Buffer {
    const headers = upstreamRequestHeaders(this, facts, edits);
    // Transfer-Encoding is hop-by-hop: a body of unknown length goes on chunked.
    if (this.contentLength < 0) headers.push('Transfer-Encoding', 'chunked');
    return serializeRequestHead(this.method, edits?.url ?? this.url, headers, reset);
  }

  streamBody(): StreamedBody {
    return incomingBody(this.req);
  }

  readBody(done: (chunks: Buffer[]) => void, stall: BodyStall): void {
    const body = bodyCollector(stall, done);
    this.req.on('data', body.chunk);
    this.req.once('end', body.end);
    this.req.once('close', body.gone);
  }

  relay(route: HttpRoute, backend: Backend, setCookie: SetCookie, hooks: ExchangeHooks): NodeRequestRelay {
    return new NodeRequestRelay(this.res, route, backend, setCookie, hooks, this.hsts);
  }

  sendError(error: ProxyError, edits: HeaderEdits | undefined): void {
    sendProxyError(this.res, error, this.hsts, edits);
  }

  respond(status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer): void {
    // A body that was sent is not read: the connection closes after the answer.
    if (this.contentLength !== 0) this.res.shouldKeepAlive = false;
    sendResponse(this.res, status, headers, body, this.hsts);
  }
}
