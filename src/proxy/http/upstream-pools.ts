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
  /** Who uses each pool, as of the last snapshot: services, their drain timeout, and the backend. */
  private owners = new Map<string, { services: string[]; backend: string; drainMs: number }>();
  private readonly drainingNow = new Map<Pool, { services: string[]; backend: string }>();

  /** `single`: a pool whose connections carry one request each (dispatch with reset: true). */
  get(backend: Backend, service: ServicePool, single = false): Pool {
    const connectMs = service.config.timeouts.connectMs;
    const key = `${backend.origin}|${connectMs}${single ? '|single' : ''}`;
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

  /**
   * Drains the pools to servers that `snapshot` no longer routes to: idle sockets close at once,
   * in-flight requests may finish for up to the service's drainTimeout, then the pool is destroyed.
   */
  retain(snapshot: RoutingSnapshot): void {
    const owners = new Map<string, { services: string[]; backend: string; drainMs: number }>();
    for (const service of snapshot.services.values()) {
      for (const backend of service.backends) {
        for (const key of [`${backend.origin}|${service.config.timeouts.connectMs}`, `${backend.origin}|${service.config.timeouts.connectMs}|single`]) {
          const entry = owners.get(key) ?? { services: [], backend: backend.id, drainMs: 0 };
          entry.services.push(service.name);
          entry.drainMs = Math.max(entry.drainMs, service.config.drainTimeoutMs);
          owners.set(key, entry);
        }
      }
    }
    for (const [key, pool] of this.pools) {
      if (owners.has(key)) continue;
      this.pools.delete(key);
      const owner = this.owners.get(key) ?? { services: [], backend: key.split('|')[0]!, drainMs: 30_000 };
      this.drainingNow.set(pool, owner);
      const deadline = setTimeout(() => void pool.destroy().catch(() => undefined), owner.drainMs);
      void pool
        .close()
        .catch(() => undefined)
        .finally(() => {
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
    await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
  }

  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => undefined)));
  }
}
