import type { Backend } from '../../balancer/index.js';
import type { RoutingSnapshot, ServicePool } from '../../control/snapshot.js';
import type { UpstreamTlsConfig } from '../../config/types.js';
import { upstreamTlsKey, upstreamTlsOptions } from '../../tls/upstream.js';
import { UpstreamPool } from '../http1/upstream-pool.js';
import type { UpstreamHandler, UpstreamRequest } from '../http1/upstream-connection.js';
import { Http2UpstreamPool } from '../http2/upstream.js';

/** What a request is dispatched on: keep-alive HTTP/1.1 connections, or HTTP/2 sessions, to one server. */
export interface RequestPool {
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** Whether lb speaks HTTP/2 to this server: `h2c://`, or `https://` of a service with `http2: true`. */
function speaksHttp2(backend: Backend, service: ServicePool): boolean {
  return backend.scheme === 'h2c' || (backend.scheme === 'https' && service.config.http2);
}

/**
 * One pool: a server, the connect timeout its connections open with, how they verify the server
 * (https), and whether they carry one request each.
 */
type PoolKey = string & { readonly __poolKey: never };

function poolKey(backend: Backend, service: ServicePool, single: boolean): PoolKey {
  const tls = backend.scheme === 'https' ? `|${upstreamTlsKey(service.config.tls)}${service.config.http2 ? '|h2' : ''}` : '';
  // HTTP/2 has no connection per request: a new stream is as safe, so both slots share one pool.
  const slot = single && !speaksHttp2(backend, service) ? '|single' : '';
  return `${backend.origin}|${service.config.timeouts.connectMs}${tls}${slot}` as PoolKey;
}

/**
 * Keep-alive connection pools to backend servers, one per server and connect timeout. Pools
 * that a new snapshot no longer uses are closed gracefully: their in-flight requests finish,
 * their idle sockets close.
 */
export class UpstreamPools {
  /** Each pool, with the id of its server. */
  private readonly pools = new Map<PoolKey, { pool: RequestPool; backend: string }>();
  /** Who uses each pool, as of the last snapshot: services, their drain timeout, and the backend. */
  private owners = new Map<PoolKey, { services: string[]; backend: string; drainMs: number }>();
  private readonly drainingNow = new Map<RequestPool, { services: string[]; backend: string }>();
  /**
   * Each backend's two pools (keep-alive, single), found by identity: the key string would be
   * built and hashed on every request. Dropped with every snapshot, whose pools may be draining.
   */
  private byBackend = new WeakMap<Backend, { connectMs: number; tls: UpstreamTlsConfig; pools: [RequestPool | undefined, RequestPool | undefined] }>();

  /** `single`: a pool whose connections carry one request each (dispatch with reset: true). */
  get(backend: Backend, service: ServicePool, single = false): RequestPool {
    const { connectMs } = service.config.timeouts;
    const { tls } = service.config;
    let cached = this.byBackend.get(backend);
    // A request that began before a reload may still carry the old service (connect timeout, TLS).
    if (!cached || cached.connectMs !== connectMs || cached.tls !== tls) this.byBackend.set(backend, (cached = { connectMs, tls, pools: [undefined, undefined] }));
    const slot = single ? 1 : 0;
    let pool = cached.pools[slot];
    if (pool) return pool;
    const key = poolKey(backend, service, single);
    pool = this.pools.get(key)?.pool;
    if (!pool) {
      const origin = { host: backend.host, port: backend.port, tls: backend.scheme === 'https' ? upstreamTlsOptions(tls, backend.host) : undefined };
      pool = speaksHttp2(backend, service) ? new Http2UpstreamPool(origin, connectMs) : new UpstreamPool(origin, connectMs);
      this.pools.set(key, { pool, backend: backend.id });
    }
    return (cached.pools[slot] = pool);
  }

  /**
   * Drains the pools to servers that `snapshot` no longer routes to: idle sockets close at once,
   * in-flight requests may finish for up to the service's drainTimeout, then the pool is destroyed.
   */
  retain(snapshot: RoutingSnapshot): void {
    this.byBackend = new WeakMap();
    const owners = new Map<PoolKey, { services: string[]; backend: string; drainMs: number }>();
    for (const service of snapshot.services.values()) {
      for (const backend of service.backends) {
        for (const key of [poolKey(backend, service, false), poolKey(backend, service, true)]) {
          const entry = owners.get(key) ?? { services: [], backend: backend.id, drainMs: 0 };
          entry.services.push(service.name);
          entry.drainMs = Math.max(entry.drainMs, service.config.drainTimeoutMs);
          owners.set(key, entry);
        }
      }
    }
    for (const [key, { pool, backend }] of this.pools) {
      if (owners.has(key)) continue;
      this.pools.delete(key);
      const owner = this.owners.get(key) ?? { services: [], backend, drainMs: 30_000 };
      this.drainingNow.set(pool, owner);
      const deadline = setTimeout(() => void pool.destroy(), owner.drainMs);
      void pool.close().then(() => {
        clearTimeout(deadline);
        this.drainingNow.delete(pool);
      });
    }
    this.owners = owners;
  }

  /** Servers removed from their pools that still finish in-flight requests. */
  draining(): Array<{ service: string; backend: string }> {
    return [...this.drainingNow.values()].flatMap(({ services, backend }) => services.map((service) => ({ service, backend })));
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.byBackend = new WeakMap();
    await Promise.all(pools.map(({ pool }) => pool.close()));
  }
}
