// HTTP/2 to servers: `h2c://` servers, and `https://` ones of services with `http2: true` (ALPN h2).
// A pool of sessions per server, streams spread over them up to each server's
// SETTINGS_MAX_CONCURRENT_STREAMS. It takes the same UpstreamRequest as the HTTP/1.1 pool (the
// head that lb made itself, read back into HTTP/2 fields) and gives the handler the same
// ResponseHead (the server's response written as HTTP/1.1 and read by lb's strict parser), so
// that every client side relays it unchanged.
import { STATUS_CODES } from 'node:http';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { classifyUpstreamError, HttpSyntaxError, ProxyError } from '../../errors.js';
import { connectUpstream } from '../../tls/upstream.js';
import { ChunkedDecoder, lastChunk, relayableTrailers } from '../http1/chunked.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import { parseResponseHead, type ResponseHead } from '../http1/response-head.js';
import type { BodyFlow, StreamedBody, UpstreamHandler, UpstreamOrigin, UpstreamRequest } from '../http1/upstream-connection.js';
import { UPSTREAM_KEEP_ALIVE_MS } from '../http1/upstream-pool.js';
import { stallTimer } from '../http/client.js';
import { neverGivenBack } from '../read-buffers.js';

/** Fields of an HTTP/1.1 request head that do not travel in HTTP/2 (RFC 9113 §8.2.2). */
const dropped: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host']);

/** Streams one session takes before the server's SETTINGS say how many it allows. */
const STREAMS_BEFORE_SETTINGS = 100;

/** How many times a stream the server refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last id) is sent again. */
const REFUSED_RETRIES = 3;

const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const CRLF = Buffer.from('\r\n');

export interface Http2RequestFields {
  readonly headers: OutgoingHttpHeaders;
  /** The body lb was given is chunk-framed (for HTTP/1.1): it is decoded before it goes in DATA frames. */
  readonly chunked: boolean;
}

/**
 * lb's own HTTP/1.1 request head (headers.ts made it from checked fields) as HTTP/2 fields: Host as
 * :authority, connection-specific fields dropped, `te: trailers` for gRPC.
 */
export function http2RequestFields(head: Buffer, scheme: 'http' | 'https'): Http2RequestFields {
  const lines = head.toString('latin1').split('\r\n');
  const [method = 'GET', path = '/'] = lines[0]!.split(' ');
  const headers: OutgoingHttpHeaders = { ':method': method, ':path': path, ':scheme': scheme };
  let chunked = false;
  for (let i = 1; i < lines.length && lines[i] !== ''; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'host') headers[':authority'] = value;
    if (name === 'transfer-encoding') chunked = true;
    if (dropped.has(name)) continue;
    const prior = headers[name];
    headers[name] = prior === undefined ? value : name === 'cookie' ? `${String(prior)}; ${value}` : Array.isArray(prior) ? [...prior, value] : [String(prior), value];
  }
  if (String(headers['content-type'] ?? '').startsWith('application/grpc')) headers.te = 'trailers';
  return { headers, chunked };
}

/**
 * A server's HTTP/2 response head as an HTTP/1.1 one, read by lb's strict parser: its length is
 * its content-length, none when the stream ended with the head, else chunked (the body is then
 * chunk-framed for handlers that relay chunks as they are).
 */
export function http1ResponseHead(headers: IncomingHttpHeaders, ended: boolean, noBody: boolean, edits?: HeaderEdits): ResponseHead {
  const status = Number(headers[':status']);
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 0x3a || value === undefined || dropped.has(name)) continue;
    for (const one of Array.isArray(value) ? value : [value]) text += `${name}: ${one}\r\n`;
  }
  const bodiless = noBody || status === 204 || status === 304;
  if (headers['content-length'] === undefined && !bodiless) text += ended ? 'content-length: 0\r\n' : 'transfer-encoding: chunked\r\n';
  const buf = Buffer.from(`${text}\r\n`, 'latin1');
  const head = parseResponseHead(buf, 0, buf.length, noBody, edits);
  if (!head) throw new HttpSyntaxError('response head larger than 16 KiB');
  return head;
}

/** Trailers as [name, value, ...], pseudo-headers left out. */
function trailerList(trailers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(trailers)) {
    if (name.charCodeAt(0) === 0x3a || value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) out.push(name, one);
  }
  return out;
}

interface Live {
  readonly session: ClientHttp2Session;
  streams: number;
  /** The server sent GOAWAY, or the session failed: no new stream goes on it. */
  spent: boolean;
  /** Why the session failed (a refused connection, a timeout), for its streams' errors. */
  error: Error | undefined;
  /**
   * What waits for the session to connect (the bodies of its first streams): one 'connect'
   * listener for them all, as a burst of streams on a new session would pass Node's limit of ten.
   */
  connected: Array<() => void>;
}

/** HTTP/2 sessions to one server, shaped as the HTTP/1.1 pool is for UpstreamPools. */
export class Http2UpstreamPool {
  private readonly sessions: Live[] = [];
  private closing = false;
  private onEmpty: (() => void) | undefined;

  constructor(
    private readonly origin: UpstreamOrigin,
    private readonly connectMs: number,
  ) {}

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    new Http2Exchange(this, request, handler, http2RequestFields(request.head, this.origin.tls ? 'https' : 'http')).send();
  }

  /** A session with room for one more stream, opened if none has. */
  take(): Live {
    let live = this.sessions.find((s) => !s.spent && !s.session.destroyed && s.streams < maxStreams(s.session));
    if (!live) this.sessions.push((live = this.open()));
    live.streams++;
    return live;
  }

  release(live: Live): void {
    live.streams--;
    if ((this.closing || live.spent) && live.streams === 0) live.session.close();
  }

  private open(): Live {
    const { host, port, tls } = this.origin;
    const session = connect(`${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      // `host`: the name the certificate is checked against when no servername is sent (an IP address).
      createConnection: () => connectUpstream({ host, port, noDelay: true }, tls && { host, ...tls, ALPNProtocols: ['h2'] }, undefined),
    });
    const live: Live = { session, streams: 0, spent: false, error: undefined, connected: [] };
    const fail = (err: Error) => {
      live.error ??= err;
      live.spent = true;
      session.destroy(err);
    };
    const timer = setTimeout(() => fail(new ProxyError('connect_timeout')), this.connectMs);
    session.once('connect', (_session: ClientHttp2Session, socket: TLSSocket) => {
      clearTimeout(timer);
      if (tls && socket.alpnProtocol !== 'h2') return fail(new ProxyError('bad_response', 'the server did not negotiate h2 by ALPN'));
      const waiting = live.connected;
      live.connected = [];
      for (const run of waiting) run();
    });
    session.on('error', (err: Error) => {
      live.error ??= err;
      live.spent = true;
    });
    session.on('goaway', () => (live.spent = true));
    // An idle session is closed before the server would close it, as idle HTTP/1.1 connections are.
    session.setTimeout(UPSTREAM_KEEP_ALIVE_MS, () => {
      if (live.streams === 0) session.close();
    });
    session.once('close', () => {
      clearTimeout(timer);
      live.spent = true;
      const at = this.sessions.indexOf(live);
      if (at >= 0) this.sessions.splice(at, 1);
      if (this.sessions.length === 0) this.onEmpty?.();
    });
    return live;
  }

  /** No new session; idle ones close now, busy ones after their streams; resolves when none is left. */
  close(): Promise<void> {
    this.closing = true;
    for (const live of this.sessions) if (live.streams === 0) live.session.close();
    if (this.sessions.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onEmpty = resolve));
  }

  destroy(): Promise<void> {
    const closed = this.close();
    for (const live of this.sessions) live.session.destroy();
    return closed;
  }
}

function maxStreams(session: ClientHttp2Session): number {
  return session.remoteSettings?.maxConcurrentStreams ?? STREAMS_BEFORE_SETTINGS;
}

/** One request on an HTTP/2 server: its stream, and the streams that replace it when the server refuses one unprocessed. */
class Http2Exchange {
  private stream: ClientHttp2Stream | undefined;
  private responded = false;
  private finished = false;
  private refusals = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Http2UpstreamPool,
    private readonly request: UpstreamRequest,
    private readonly handler: UpstreamHandler,
    private readonly fields: Http2RequestFields,
  ) {
    handler.onConnect(() => this.abort());
  }

  private get replayable(): boolean {
    const body = this.request.body;
    return body === null || Array.isArray(body) || !body.started;
  }

  send(): void {
    if (this.finished) return;
    const live = this.pool.take();
    let stream: ClientHttp2Stream;
    try {
      stream = live.session.request(this.fields.headers, { endStream: this.request.body === null });
    } catch (err) {
      this.pool.release(live);
      // Node refuses fields HTTP/2 cannot carry: the client's request, not the server, is at fault.
      return this.fail(new ProxyError('client_abort', `the request cannot be sent as HTTP/2 (${(err as Error).message})`, { cause: err }));
    }
    this.stream = stream;
    let trailers: string[] | undefined;
    let chunkedOut = false;
    this.due(this.request.headersTimeout, 'response_timeout');
    let streamError: Error | undefined;
    stream.on('error', (err: Error) => (streamError = err));
    stream.on('response', (headers, flags) => {
      let head: ResponseHead;
      try {
        head = http1ResponseHead(headers, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0, this.request.method === 'HEAD', this.request.responseEdits);
      } catch (err) {
        return this.fail(new ProxyError('bad_response', (err as Error).message, { cause: err }));
      }
      this.responded = true;
      chunkedOut = head.bodyLength === -1 && this.request.rawChunked;
      this.due(this.request.bodyTimeout, 'body_timeout');
      const flow: BodyFlow = { resume: () => stream.resume(), keep: () => neverGivenBack };
      if (!this.handler.onHeaders(head, flow)) stream.pause();
      this.handler.onReadEnd?.();
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      this.due(this.request.bodyTimeout, 'body_timeout');
      const out = chunkedOut ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, CRLF]) : chunk;
      if (!this.handler.onData(out)) stream.pause();
      this.handler.onReadEnd?.();
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = trailerList(t)));
    stream.on('end', () => {
      // A stream cut by its session's end (a server that died) ends too: that is a failure, told on 'close'.
      if (this.finished || !this.responded || (stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR)) return;
      this.finished = true;
      clearTimeout(this.timer);
      // An HTTP/1.1 client that takes chunks gets the trailers in the last one (RFC 9112 §7.1.2), as from an HTTP/1.1 server.
      if (chunkedOut) this.handler.onData(trailers ? lastChunk(relayableTrailers(trailers)) : LAST_CHUNK);
      if (trailers) this.handler.onTrailers?.(trailers);
      this.handler.onComplete();
    });
    stream.once('close', () => {
      this.pool.release(live);
      if (this.finished) return;
      if (!this.responded && stream.rstCode === constants.NGHTTP2_REFUSED_STREAM && this.replayable && this.refusals++ < REFUSED_RETRIES) {
        this.stream = undefined;
        return this.send();
      }
      // A failed connection fails its streams before the session reports it: the socket's error is the cause.
      const cause = live.error ?? (streamError?.cause as Error | undefined);
      if (cause) return this.fail(classifyUpstreamError(cause));
      const error = new ProxyError('reset', `the server reset its HTTP/2 stream (code ${stream.rstCode ?? 'none'})`);
      error.responseStarted = this.responded;
      this.fail(error);
    });
    // The body is taken from the client once the server is reached: a refused connection leaves it unread, so that the request can go to another server.
    if (live.session.connecting) live.connected.push(() => this.stream === stream && this.sendBody(stream));
    else this.sendBody(stream);
  }

  private sendBody(stream: ClientHttp2Stream): void {
    const body = this.request.body;
    if (body === null) return;
    if (Array.isArray(body)) {
      let bytes = 0;
      for (const chunk of body) {
        stream.write(chunk);
        bytes += chunk.length;
      }
      stream.end();
      this.handler.onBodySent(bytes);
      return;
    }
    this.streamBody(stream, body);
  }

  /** A body that arrives while it is sent: chunk framing decoded, the client's pauses bounded by requestBodyTimeout, its average rate by minRequestBodyRate. */
  private streamBody(stream: ClientHttp2Stream, body: StreamedBody): void {
    let flushed = true;
    const decoder = this.fields.chunked ? new ChunkedDecoder((data) => (flushed = stream.write(data) && flushed)) : undefined;
    // Measured afresh after each wait for the server's flow-control window: only the client's time counts.
    const measure = () => stallTimer({ pauseMs: this.request.requestBodyTimeout, minRate: this.request.minRequestBodyRate, onStall: () => this.fail(new ProxyError('request_body_timeout')) });
    let stall = measure();
    stream.once('close', () => stall.stop());
    body.start(
      (chunk) => {
        if (this.stream !== stream) return true;
        stall.moved(chunk.length);
        this.handler.onBodySent(chunk.length);
        flushed = true;
        try {
          if (decoder) decoder.feed(chunk, 0, chunk.length);
          else flushed = stream.write(chunk);
        } catch (err) {
          this.fail(new ProxyError('client_abort', `malformed request body (${(err as Error).message})`, { cause: err }));
          return true;
        }
        if (flushed) return true;
        stall.stop();
        stream.once('drain', () => {
          if (stream.destroyed) return;
          stall = measure();
          body.resume();
        });
        return false;
      },
      () => {
        stall.stop();
        if (this.stream === stream) stream.end();
      },
    );
  }

  /** The response head, or the next body bytes, are due within `ms`. */
  private due(ms: number, kind: 'response_timeout' | 'body_timeout'): void {
    clearTimeout(this.timer);
    if (ms > 0) this.timer = setTimeout(() => this.fail(Object.assign(new ProxyError(kind), { responseStarted: this.responded })), ms);
  }

  /** The client side gave up (it left, or its request broke): the stream is cancelled, nothing more is told. */
  private abort(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.stream?.close(constants.NGHTTP2_CANCEL);
  }

  private fail(error: ProxyError): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    if (this.stream && !this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
    this.handler.onError(error);
  }
}
