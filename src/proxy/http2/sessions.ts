import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream, type ServerSessionOptions } from 'node:http2';
import type { Socket } from 'node:net';
import type { EntrypointConfig, Http2EntrypointConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import type { TlsInfo } from '../../tls/terminator.js';
import type { ClientExchange } from '../http/client.js';
import { Http2Client, type Http2Connection } from './client-stream.js';
import { translateRequest } from './request-head.js';

/** What the sessions of an entrypoint need from it. */
export interface Http2Owner {
  /** Routes and forwards one request, as every request of the entrypoint. */
  handle(client: ClientExchange): void;
  readonly localPort: number;
  /** The entrypoint's Strict-Transport-Security value, if it sets one. */
  readonly hsts: string | undefined;
}

/** Node's session options for lb's settings: no server push, the entrypoint's stream and header limits. */
function sessionOptions(settings: Http2EntrypointConfig): ServerSessionOptions {
  return {
    settings: { enablePush: false, maxConcurrentStreams: settings.maxConcurrentStreams, maxHeaderListSize: settings.maxHeaderListSize },
    maxHeaderListPairs: 256,
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
    this.timeouts = timeouts;
  }

  /** New settings at a reload: for the connections that come next. */
  update(settings: Http2EntrypointConfig, timeouts: EntrypointConfig['timeouts']): void {
    this.options = sessionOptions(settings);
    this.timeouts = timeouts;
  }

  /**
   * A client connection that speaks HTTP/2: a decrypted one that chose h2, or a plain one whose
   * preface was read (`read`: those bytes, given back to the session first).
   */
  accept(socket: Socket, clientIp: string, tls: TlsInfo | undefined, read?: Buffer): void {
    if (read) socket.unshift(read);
    const session = performServerHandshake(socket, this.options);
    const connection: Http2Connection = { socket, clientIp, localPort: this.owner.localPort, tls, hsts: this.owner.hsts };
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
      const translated = translateRequest(rawHeaders, stream.endAfterHeaders);
      if (translated.refused !== undefined) {
        this.logger.debug({ entrypoint: this.entrypoint, client: clientIp, reason: translated.refused }, 'refused a malformed HTTP/2 request');
        stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
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
