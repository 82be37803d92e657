import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { ProxyProtocolVersion, UpstreamTlsConfig } from '../../config/types.js';
import { upstreamTlsOptions } from '../../tls/upstream.js';
import { connectionAddresses } from '../accept-proxy.js';
import { UpstreamConnection, type UpstreamHandler, type UpstreamOrigin, type UpstreamRequest } from '../http1/upstream-connection.js';
import { UPSTREAM_KEEP_ALIVE_MS } from '../http1/upstream-pool.js';
import { writeProxyHeader } from '../proxy-protocol.js';

/**
 * The keep-alive connection of one client connection to one server of a service with
 * `proxyProtocol`. Such a connection opened with that client's PROXY header, so it speaks for that
 * client alone: it is reused only by the same client connection's later requests, never pooled
 * for others (HAProxy marks such connections private), and it closes with the client connection.
 * To an https:// server, TLS starts after the header.
 */
class PrivateUpstream {
  private idle: UpstreamConnection | undefined;
  private closed = false;
  private readonly origin: UpstreamOrigin;

  constructor(
    backend: Backend,
    /** The service's settings it was opened with: a reload that changes them gets a new one. */
    readonly tls: UpstreamTlsConfig,
    private readonly connectMs: number,
    private readonly header: Buffer,
  ) {
    const { host, port } = backend;
    this.origin = { host, port, tls: backend.scheme === 'https' ? upstreamTlsOptions(tls, host) : undefined };
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    let conn: UpstreamConnection | undefined;
    if (!request.reset) {
      conn = this.idle;
      this.idle = undefined;
      // As in the shared pools, a connection idle for long may be closing on the server's side.
      // A request that must not be lost replaces one that is no longer fresh.
      if (conn && (!conn.usable || conn.lastUsed < performance.now() - UPSTREAM_KEEP_ALIVE_MS || (request.freshOnly && !conn.fresh))) {
        conn.destroy();
        conn = undefined;
      }
    }
    if (!conn) conn = new UpstreamConnection(this.origin, this.connectMs, (c) => this.reusable(c), (c) => this.gone(c), this.header);
    const chosen = conn;
    handler.onConnect((err) => chosen.abort(err));
    if (chosen.usable) chosen.send(request, handler);
  }

  close(): void {
    this.closed = true;
    this.idle?.destroy();
  }

  private reusable(conn: UpstreamConnection): void {
    if (this.closed || this.idle) conn.destroy();
    else this.idle = conn;
  }

  private gone(conn: UpstreamConnection): void {
    if (this.idle === conn) this.idle = undefined;
  }
}

/** Each client connection's private upstreams, one per server it reached. */
const byClient = new WeakMap<Socket, Map<Backend, PrivateUpstream>>();

/** Where a request of `client` to `backend` goes when the service sends the PROXY protocol. */
export function privateUpstream(client: Socket, backend: Backend, connectMs: number, version: ProxyProtocolVersion, tls: UpstreamTlsConfig): PrivateUpstream {
  let upstreams = byClient.get(client);
  if (!upstreams) {
    const opened = (upstreams = new Map());
    byClient.set(client, opened);
    client.once('close', () => {
      for (const upstream of opened.values()) upstream.close();
    });
  }
  let upstream = upstreams.get(backend);
  if (!upstream || upstream.tls !== tls) {
    upstream?.close();
    upstreams.set(backend, (upstream = new PrivateUpstream(backend, tls, connectMs, writeProxyHeader(version, connectionAddresses(client)))));
  }
  return upstream;
}
