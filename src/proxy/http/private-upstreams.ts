import type { Socket } from 'node:net';
import type { Backend } from '../../balancer/index.js';
import type { ProxyProtocolVersion } from '../../config/types.js';
import { connectionAddresses } from '../accept-proxy.js';
import { UpstreamConnection, type UpstreamHandler, type UpstreamRequest } from '../http1/upstream-connection.js';
import { UPSTREAM_KEEP_ALIVE_MS } from '../http1/upstream-pool.js';
import { writeProxyHeader } from '../proxy-protocol.js';

/**
 * The keep-alive connection of one client connection to one server of a service with
 * `proxyProtocol`. Such a connection opened with that client's PROXY header, so it speaks for that
 * client alone: it is reused only by the same client connection's later requests, never pooled
 * for others (HAProxy marks such connections private), and it closes with the client connection.
 */
class PrivateUpstream {
  private idle: UpstreamConnection | undefined;
  private closed = false;

  constructor(
    private readonly backend: Backend,
    private readonly connectMs: number,
    private readonly header: Buffer,
  ) {}

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    let conn: UpstreamConnection | undefined;
    if (!request.reset) {
      conn = this.idle;
      this.idle = undefined;
      // As in the shared pools, a connection idle for long may be closing on the server's side.
      if (conn && (!conn.usable || conn.lastUsed < performance.now() - UPSTREAM_KEEP_ALIVE_MS)) {
        conn.destroy();
        conn = undefined;
      }
    }
    if (!conn) {
      const { host, port } = this.backend;
      conn = new UpstreamConnection({ host, port, tls: undefined }, this.connectMs, (c) => this.reusable(c), (c) => this.gone(c), this.header);
    }
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
export function privateUpstream(client: Socket, backend: Backend, connectMs: number, version: ProxyProtocolVersion): PrivateUpstream {
  let upstreams = byClient.get(client);
  if (!upstreams) {
    const opened = (upstreams = new Map());
    byClient.set(client, opened);
    client.once('close', () => {
      for (const upstream of opened.values()) upstream.close();
    });
  }
  let upstream = upstreams.get(backend);
  if (!upstream) upstreams.set(backend, (upstream = new PrivateUpstream(backend, connectMs, writeProxyHeader(version, connectionAddresses(client)))));
  return upstream;
}
