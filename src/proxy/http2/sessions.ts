import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream, type ServerSessionOptions } from 'node:http2';
import type { Socket } from 'node:net';
import type { EntrypointConfig, Http2EntrypointConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import type { TlsInfo } from '../../tls/terminator.js';
import type { ClientExchange } from '../http/client.js';
import { Http2Client, type Http2Connection } from './client-stream.js';
import { translateRequest } from './request-head.js';
import { resetStream, sendHttp2Response, wasResetByLb } from './response.js';
import { errorBody } from '../http/error-response.js';

/** What the sessions of an entrypoint need from it. */
export interface Http2Owner {
  /** Routes and forwards one request, as every request of the entrypoint. */
  handle(client: ClientExchange): void;
  readonly localPort: number;
  /** The entrypoint's Strict-Transport-Security value, if it sets one. */
  readonly hsts: string | undefined;
}

/**
 * Streams a client may reset, or have refused as malformed, before it is sent GOAWAY: a burst of
 * RESET_BURST, then RESET_RATE a second (CVE-2023-44487, rapid reset: each such stream costs lb a
 * request it routes and abandons, and costs the client nothing).
 */
const RESET_BURST = 100;
const RESET_RATE = 10;

/** A token bucket of resets, per connection. */
class ResetBudget {
  private tokens = RESET_BURST;
  private at = performance.now();

  /** Takes one; false when the budget is spent. */
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(RESET_BURST, this.tokens + ((now - this.at) / 1000) * RESET_RATE);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

/** A header list's size as HTTP/2 counts it (RFC 9113 §6.5.2): each field's name and value, and 32 more. */
function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += raw[i]!.length + (i % 2) * 32;
  return size;
}

/** GOAWAY with `code`, then the connection closes (Node's destroy(code) would send NO_ERROR). */
function goAwayNow(session: ServerHttp2Session, code: number): void {
  session.goaway(code);
  setImmediate(() => session.destroy());
}

/** Node's session options for lb's settings: no server push, the entrypoint's stream and header limits. */
function sessionOptions(settings: Http2EntrypointConfig): ServerSessionOptions {
  return {
    settings: { enablePush: false, maxConcurrentStreams: settings.maxConcurrentStreams, maxHeaderListSize: settings.maxHeaderListSize },
    maxHeaderListPairs: 256,
    // Frames nghttp2 refuses, and streams refused above maxConcurrentStreams, before the connection is closed.
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
  };
}

/**
 * The HTTP/2 client connections of one entrypoint (by ALPN h2 on https, by prior knowledge on
 * http): a Node http2 server session on each, whose every stream is checked (request-head.ts) and
 * handed to the entrypoint as one request, like an HTTP/1.1 one. A stream that fails a check is
 * reset with PROTOCOL_ERROR and nothing of it leaves lb.
 */
export class Http2Sessions {
  private readonly sessions = new Set<ServerHttp2Session>();
  private options: ServerSessionOptions;
  private maxHeaderListSize: number;
  private timeouts: EntrypointConfig['timeouts'];
  private closing = false;

  constructor(
    private readonly entrypoint: string,
    settings: Http2EntrypointConfig,
    timeouts: EntrypointConfig['timeouts'],
    private readonly owner: Http2Owner,
    private readonly logger: Logger,
  ) {
    this.options = sessionOptions(settings);
    this.maxHeaderListSize = settings.maxHeaderListSize;
    this.timeouts = timeouts;
  }

  /** New settings at a reload: for the connections that come next. */
  update(settings: Http2EntrypointConfig, timeouts: EntrypointConfig['timeouts']): void {
    this.options = sessionOptions(settings);
    this.maxHeaderListSize = settings.maxHeaderListSize;
    this.timeouts = timeouts;
  }

  /**
   * A client connection that speaks HTTP/2: a decrypted one that chose h2, or a plain one whose
   * preface was read (`read`: those bytes, given back to the session first).
   */
  accept(socket: Socket, clientIp: string, tls: TlsInfo | undefined, read?: Buffer): void {
    if (read) socket.unshift(read);
    const session = performServerHandshake(socket, this.options);
    const connection: Http2Connection = { socket, clientIp, localPort: this.owner.localPort, tls, hsts: this.owner.hsts, idleMs: this.timeouts.idleMs };
    const budget = new ResetBudget();
    const spend = (why: string) => {
      if (budget.take() || session.destroyed) return;
      this.logger.warn({ entrypoint: this.entrypoint, client: clientIp, why }, 'HTTP/2 client sent GOAWAY: too many streams reset or refused (rapid reset)');
      goAwayNow(session, constants.NGHTTP2_ENHANCE_YOUR_CALM);
    };
    this.sessions.add(session);
    let streams = 0;
    let open = 0;
    session.on('error', (err: NodeJS.ErrnoException) => this.logger.debug({ entrypoint: this.entrypoint, code: err.code, err: err.message }, 'HTTP/2 client connection failed'));
    session.once('close', () => this.sessions.delete(session));
    // Before its first stream a connection has requestHeaders, as an HTTP/1.1 one has for its first head; then idle.
    session.setTimeout(this.timeouts.requestHeadersMs, () => {
      if (open === 0) session.close();
    });
    session.on('stream', (stream: ServerHttp2Stream, _headers: unknown, _flags: number, rawHeaders: string[]) => {
      stream.on('error', () => undefined);
      if (streams++ === 0) session.setTimeout(this.timeouts.idleMs);
      open++;
      stream.once('close', () => open--);
      // A reset by the client before its response ended ('aborted' fires for lb's own resets too).
      stream.once('aborted', () => {
        if (!wasResetByLb(stream)) spend('reset');
      });
      // Node advertises SETTINGS_MAX_HEADER_LIST_SIZE but decodes up to 64 KiB whatever it says: lb holds clients to it.
      if (headerListSize(rawHeaders) > this.maxHeaderListSize) {
        this.logger.debug({ entrypoint: this.entrypoint, client: clientIp }, 'refused an HTTP/2 request: header list over maxHeaderListSize');
        sendHttp2Response(stream, 431, [], errorBody(431, `the request's header list is larger than ${this.maxHeaderListSize} bytes`), this.owner.hsts);
        spend('malformed');
        return;
      }
      const translated = translateRequest(rawHeaders, stream.endAfterHeaders);
      if (translated.refused !== undefined) {
        this.logger.debug({ entrypoint: this.entrypoint, client: clientIp, reason: translated.refused }, 'refused a malformed HTTP/2 request');
        resetStream(stream, constants.NGHTTP2_PROTOCOL_ERROR);
        spend('malformed');
        return;
      }
      this.owner.handle(new Http2Client(stream, translated.head, connection, streams === 1));
    });
    if (this.closing) session.close();
  }

  /** The entrypoint is closing: GOAWAY on every connection; the streams in flight finish. */
  goAway(): void {
    this.closing = true;
    for (const session of this.sessions) session.close();
  }

  /** The grace period is over: every connection is closed. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
  }
}
