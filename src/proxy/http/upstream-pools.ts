import { Pool } from 'undici';
import type { Backend } from '../../balancer/index.js';
import type { RoutingSnapshot, ServicePool } from '../../control/snapshot.js';

/**
 * Keep-alive connection pools to backend servers, one per server and connect timeout. Pools
 * that a new snapshot no longer uses are closed gracefully: their in-flight requests finish,
 * their idle sockets close.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  get(backend: Backend, service: ServicePool): Pool {
    const connectMs = service.config.timeouts.connectMs;
    const key = `${backend.origin}|${connectMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(backend.origin, {
        connect: { timeout: connectMs, noDelay: true },
        pipelining: 1,
        // Backends (Node, nginx) commonly close idle sockets after 5s; reusing one that the
        // server is closing at that moment is the classic keep-alive race, so stay under it.
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pools to servers that `snapshot` no longer routes to. */
  retain(snapshot: RoutingSnapshot): void {
    const wanted = new Set<string>();
    for (const service of snapshot.services.values()) {
      for (const backend of service.backends) wanted.add(`${backend.origin}|${service.config.timeouts.connectMs}`);
    }
    for (const [key, pool] of this.pools) {
      if (wanted.has(key)) continue;
      this.pools.delete(key);
      void pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
  }

  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => undefined)));
  }
}
