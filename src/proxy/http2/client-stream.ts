import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import type { TlsInfo } from '../../tls/terminator.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { StreamedBody } from '../http1/upstream-connection.js';
import { bodyCollector, type BodyStall, type ClientExchange, type ExchangeHooks, type SetCookie } from '../http/client.js';
import { errorBody, errorHeaders } from '../http/error-response.js';
import { resetStream, sendHttp2Response } from './response.js';
import type { ForwardingFacts, RequestEdits } from '../http/headers.js';
import { http1RequestHead, type Http2RequestHead } from './request-head.js';
import { Http2Relay, type Http2Call } from './relay.js';
import { grpcTimeoutMs, isGrpc, sendGrpcError } from './grpc.js';

const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** What a stream's exchange knows of the client connection it is on. */
export interface Http2Connection {
  readonly socket: Socket;
  readonly clientIp: string;
  readonly localPort: number;
  readonly tls: TlsInfo | undefined;
  /** The entrypoint's Strict-Transport-Security value, if it sets one. */
  readonly hsts: string | undefined;
  /** The entrypoint's timeouts.idle: the longest a response may wait for the client's flow-control window. */
  readonly idleMs: number;
}

/**
 * One HTTP/2 stream as a request to forward (HttpEntrypoint.handle), its head already checked and
 * translated (request-head.ts). The body is counted against its content-length as it arrives, and
 * never forwarded past it; without a content-length it goes on chunked.
 */
export class Http2Client implements ClientExchange {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly rawHeaders: string[];
  readonly clientIp: string;
  readonly localPort: number;
  readonly contentLength: number;
  readonly tls: TlsInfo | undefined;
  readonly socket: Socket;
  readonly acceptsChunked = false;
  private bodyBytes = 0;
  private relayInFlight: Http2Relay | undefined;
  private readonly call: Http2Call;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly head: Http2RequestHead,
    private readonly connection: Http2Connection,
    readonly firstOnConnection: boolean,
  ) {
    this.method = head.method;
    this.url = head.path;
    this.host = head.authority;
    this.contentLength = head.contentLength;
    this.clientIp = connection.clientIp;
    this.localPort = connection.localPort;
    this.tls = connection.tls;
    this.socket = connection.socket;
    this.rawHeaders = ['host', head.authority, ...head.fields];
    const headers: Record<string, string | string[] | undefined> = {};
    for (let i = 0; i < this.rawHeaders.length; i += 2) {
      const name = this.rawHeaders[i]!;
      const value = this.rawHeaders[i + 1]!;
      const prior = headers[name];
      headers[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : name === 'cookie' ? `${prior}; ${value}` : `${prior}, ${value}`;
    }
    this.headers = headers;
    this.call = { method: head.method, readsTrailers: head.trailers, grpc: isGrpc(headers['content-type']) };
    const deadline = this.call.grpc ? grpcTimeoutMs(headers['grpc-timeout']) : undefined;
    if (deadline !== undefined) {
      const timer = setTimeout(() => this.expire(), deadline);
      stream.once('close', () => clearTimeout(timer));
    }
  }

  /** The call's grpc-timeout passed: DEADLINE_EXCEEDED, whether it waits for a server or is being answered. */
  private expire(): void {
    const error = new ProxyError('response_timeout', 'the call\'s grpc-timeout passed');
    if (this.relayInFlight) this.relayInFlight.expire(error);
    else sendGrpcError(this.stream, error);
  }

  get gone(): boolean {
    return this.stream.destroyed;
  }

  upstreamHead(facts: ForwardingFacts, reset: boolean, edits?: RequestEdits): Buffer {
    return http1RequestHead(this.head, facts, reset, edits);
  }

  /**
   * The body's chunks in order, each counted: more bytes than the content-length, or an end before
   * it, resets the stream (PROTOCOL_ERROR) and ends the exchange; the bytes past it are not given.
   */
  private read(chunk: (bytes: Buffer) => boolean, end: () => void): void {
    const declared = this.contentLength > 0 ? this.contentLength : -1;
    this.stream.on('data', (bytes: Buffer) => {
      this.bodyBytes += bytes.length;
      if (declared >= 0 && this.bodyBytes > declared) return this.malformedBody('more DATA than its content-length');
      if (!chunk(bytes)) this.stream.pause();
    });
    this.stream.once('end', () => {
      if (declared >= 0 && this.bodyBytes !== declared) return this.malformedBody('less DATA than its content-length');
      end();
    });
  }

  private malformedBody(reason: string): void {
    resetStream(this.stream, constants.NGHTTP2_PROTOCOL_ERROR);
    this.relayInFlight?.stop(400, new ProxyError('client_abort', `malformed request body (${reason})`));
  }

  streamBody(): StreamedBody {
    const chunked = this.contentLength < 0;
    const stream = this.stream;
    return {
      get started() {
        return stream.readableDidRead;
      },
      start: (write, end) => {
        this.read(
          (bytes) => (chunked ? write(Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, CRLF])) : write(bytes)),
          () => {
            if (chunked) write(LAST_CHUNK);
            end();
          },
        );
      },
      resume: () => stream.resume(),
    };
  }

  readBody(done: (chunks: Buffer[]) => void, stall: BodyStall): void {
    const body = bodyCollector(stall, done);
    this.read(
      (bytes) => {
        body.chunk(bytes);
        return true;
      },
      body.end,
    );
    this.stream.once('close', body.gone);
  }

  relay(route: HttpRoute, backend: Backend, setCookie: SetCookie, hooks: ExchangeHooks): Http2Relay {
    return (this.relayInFlight = new Http2Relay(this.stream, this.call, route, backend, setCookie, hooks, this.connection));
  }

  sendError(error: ProxyError, edits: HeaderEdits | undefined): void {
    if (this.call.grpc) return sendGrpcError(this.stream, error);
    sendHttp2Response(this.stream, error.status, errorHeaders(error, edits), errorBody(error.status, error.message), this.connection.hsts);
  }

  respond(status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer): void {
    sendHttp2Response(this.stream, status, headers, body, this.connection.hsts);
  }
}
