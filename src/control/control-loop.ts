import { serverKey, type Backend, type ServerKey } from '../balancer/index.js';
import type { EntrypointConfig, MiddlewareConfig, RouterConfig, ServiceConfig } from '../config/types.js';
import { retireMiddlewares } from '../middleware/chain.js';
import { HealthChecker, type CheckTarget } from '../health/checker.js';
import { ejectionAllowance, ServerHealth } from '../health/server-health.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Provider } from '../providers/provider.js';
import { SnapshotListeners } from './snapshot-listeners.js';
import { buildSnapshot, type DynamicConfig, type RoutingSnapshot } from './snapshot.js';

/**
 * Merges what the providers publish, and what health checks and passive signals say, into one
 * immutable routing snapshot for the data plane. This is the only writer of snapshots:
 * providers and health signals come in, snapshots go out.
 */
export class ControlLoop {
  private entrypoints: ReadonlyMap<string, EntrypointConfig>;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private readonly published = new Map<string, DynamicConfig>();
  private readonly listeners = new SnapshotListeners();
  private readonly health = new Map<ServerKey, ServerHealth>();
  private readonly checker: HealthChecker;
  private readonly ejectionTimers = new Map<ServerKey, NodeJS.Timeout>();
  private merged: DynamicConfig = { routers: new Map(), services: new Map() };
  /** Router names two providers define (provider\0name), already logged. */
  private duplicateRouters = new Set<string>();
  private current: RoutingSnapshot;
  private readonly now: () => number;

  constructor(entrypoints: ReadonlyMap<string, EntrypointConfig>, logger: Logger, metrics: Metrics, now: () => number = Date.now) {
    this.entrypoints = entrypoints;
    this.logger = logger;
    this.metrics = metrics;
    this.now = now;
    this.checker = new HealthChecker((target, ok, detail) => this.reportCheck(target, ok, detail));
    this.current = buildSnapshot(entrypoints, this.merged, undefined);
  }

  get snapshot(): RoutingSnapshot {
    return this.current;
  }

  /** Calls `listener` with every new snapshot; returns a function that stops it. */
  subscribe(listener: (snapshot: RoutingSnapshot) => void): () => void {
    return this.listeners.subscribe(listener);
  }

  /** Resolves with the next snapshot, or undefined after `timeoutMs`. */
  nextSnapshot(timeoutMs: number): Promise<RoutingSnapshot | undefined> {
    return this.listeners.nextSnapshot(timeoutMs);
  }

  /** The routers and services every provider published, merged (what snapshots are built from). */
  get dynamic(): DynamicConfig {
    return this.merged;
  }

  /** The entrypoints snapshots are built for. */
  get entrypointConfigs(): ReadonlyMap<string, EntrypointConfig> {
    return this.entrypoints;
  }

  async startProvider(provider: Provider): Promise<void> {
    await provider.start((config) => this.publishFrom(provider.name, config));
  }

  /** After a reload: the next snapshot is built for these entrypoints. */
  setEntrypoints(entrypoints: ReadonlyMap<string, EntrypointConfig>): void {
    this.entrypoints = entrypoints;
  }

  /** Forgets what a provider published (it was switched off) and publishes without it. */
  removeProvider(name: string): void {
    if (!this.published.delete(name)) return;
    this.merged = this.merge();
    this.republish(name);
  }

  stop(): void {
    this.checker.stop();
    for (const timer of this.ejectionTimers.values()) clearTimeout(timer);
    this.ejectionTimers.clear();
  }

  /** Health state of one server, for the admin API and metrics. */
  healthOf(service: string, backend: Backend): ServerHealth | undefined {
    return this.health.get(healthKey(service, backend));
  }

  /** Whether a server passes its checks and is not ejected. */
  isUsable(service: string, backend: Backend): boolean {
    const state = this.health.get(healthKey(service, backend));
    return state !== undefined && state.up && !state.isEjected(this.now());
  }

  /**
   * Passive signal from the data plane: `backend` failed `consecutiveFailures` times in a row.
   * Ejects it, unless that would take out more of the pool than allowed.
   */
  reportOutlier(service: string, backend: Backend): void {
    const pool = this.current.services.get(service);
    const state = this.health.get(healthKey(service, backend));
    if (!pool || !state) return;
    const now = this.now();
    if (state.isEjected(now)) return;
    const policy = pool.config.outlierDetection;
    const ejected = pool.backends.filter((b) => this.health.get(healthKey(service, b))?.isEjected(now)).length;
    if (ejected + 1 > ejectionAllowance(pool.backends.length, policy.maxEjectionPercent)) {
      this.logger.warn({ service, backend: backend.id, ejected }, 'outlier not ejected: the pool is at its ejection limit');
      return;
    }
    const until = state.eject(now, policy);
    const key = healthKey(service, backend);
    this.metrics.countEjection(key, service, backend.id);
    this.logger.warn({ service, backend: backend.id, ejections: state.ejections, seconds: (until - now) / 1000 }, 'ejected after consecutive gateway failures');
    clearTimeout(this.ejectionTimers.get(key));
    this.ejectionTimers.set(
      key,
      setTimeout(() => {
        this.ejectionTimers.delete(key);
        this.logger.info({ service, backend: backend.id }, 'ejection over: back in the pool');
        this.republish();
      }, until - now),
    );
    this.republish();
  }

  private reportCheck(target: CheckTarget, ok: boolean, detail: string): void {
    const state = this.health.get(healthKey(target.service, target.backend));
    if (!state) return;
    const wasEjected = state.isEjected(this.now());
    this.metrics.countHealthCheck(healthKey(target.service, target.backend), target.service, target.backend.id, ok);
    const changed = state.recordCheck(ok, detail, this.now(), target.check);
    if (changed) {
      this.logger[state.up ? 'info' : 'warn']({ service: target.service, backend: target.backend.id, detail }, state.up ? 'server is healthy' : 'server is unhealthy');
    }
    if (changed || (wasEjected && !state.isEjected(this.now()))) this.republish();
  }

  private publishFrom(providerName: string, config: DynamicConfig): void {
    this.published.set(providerName, config);
    this.merged = this.merge();
    this.republish(providerName);
  }

  private republish(providerName?: string): void {
    const started = performance.now();
    const now = this.now();
    const snapshot = buildSnapshot(this.entrypoints, this.merged, this.current, (service, backend) => {
      const state = this.stateFor(service, backend);
      return { usable: state.up && !state.isEjected(now), known: state.known };
    }, this.logger);
    this.metrics.snapshotBuildDuration.observe((performance.now() - started) / 1000);
    this.forgetRemoved(snapshot);
    this.checker.sync(checkTargets(snapshot));
    const previous = this.current;
    this.current = snapshot;
    retireMiddlewares(previous.middlewares, snapshot.middlewares);
    for (const service of snapshot.services.values()) {
      const before = previous.services.get(service.name);
      if (service.config.weighted || service.config.mirroring) {
        if (!service.split && (!before || before.split)) this.logger.warn({ service: service.name }, 'service reaches itself through the services it names (weighted, mirroring): its requests get 503');
        continue;
      }
      // Said once when a pool empties or panics, not on every snapshot while it stays so.
      if (service.members.length === 0 && (!before || before.members.length > 0)) {
        const starting = service.backends.length > 0 && service.backends.every((b) => !this.stateFor(service.config, b).known);
        // A service that appears without servers (a container still starting, a pool not filled
        // yet) is waiting; one that loses its last server is an event.
        if (service.backends.length === 0) this.logger[before ? 'warn' : 'info']({ service: service.name }, 'service has no servers: its requests will get 503 until one is added');
        // A new server waiting for its first passing check is no event; the check's result is.
        else if (!starting) this.logger.warn({ service: service.name, servers: service.backends.length }, 'no usable server: requests get 503');
      }
      if (service.panic && !before?.panic) this.logger.warn({ service: service.name, threshold: service.config.panicThresholdPercent }, 'panic: too few healthy servers, sending traffic to all of them');
      if (!service.panic && before?.panic) this.logger.info({ service: service.name }, 'panic over');
    }
    this.reportShadowed(previous, snapshot);
    this.reportMissingMiddlewares(previous, snapshot);
    if (providerName) this.logger.info({ provider: providerName, version: snapshot.version, routers: snapshot.routers.size, services: snapshot.services.size }, 'routing snapshot published');
    this.listeners.notify(snapshot);
  }

  /** Said once when a router becomes unreachable; the gauge follows every snapshot. */
  private reportShadowed(previous: RoutingSnapshot, snapshot: RoutingSnapshot): void {
    if (previous.shadowed.length === 0 && snapshot.shadowed.length === 0) return;
    const before = new Set(previous.shadowed.map((s) => `${s.entrypoint}\0${s.router}\0${s.by}`));
    this.metrics.routerShadowed.reset();
    for (const s of snapshot.shadowed) {
      this.metrics.routerShadowed.labels(s.entrypoint, s.router).set(1);
      if (!before.has(`${s.entrypoint}\0${s.router}\0${s.by}`)) {
        this.logger.warn({ entrypoint: s.entrypoint, router: s.router, by: s.by }, `router "${s.router}" can never win: router "${s.by}" on entrypoint "${s.entrypoint}" has the same match and priority; change one's match or give one a priority`);
      }
    }
  }

  /** Said once when a router starts naming a middleware that no provider defines. */
  private reportMissingMiddlewares(previous: RoutingSnapshot, snapshot: RoutingSnapshot): void {
    const before = new Set(previous.missingMiddlewares.map((m) => `${m.router}\0${m.middleware}`));
    for (const m of snapshot.missingMiddlewares) {
      if (before.has(`${m.router}\0${m.middleware}`)) continue;
      this.logger.error({ router: m.router, middleware: m.middleware }, `router "${m.router}" names middleware "${m.middleware}", which no provider defines: its requests get 500 (middleware_missing) until it is defined`);
    }
  }

  private stateFor(service: ServiceConfig, backend: Backend): ServerHealth {
    const key = healthKey(service.name, backend);
    let state = this.health.get(key);
    if (!state) {
      state = new ServerHealth(service.healthCheck !== undefined);
      this.health.set(key, state);
    }
    return state;
  }

  private forgetRemoved(snapshot: RoutingSnapshot): void {
    const live = new Set<ServerKey>();
    for (const service of snapshot.services.values()) for (const backend of service.backends) live.add(healthKey(service.name, backend));
    this.metrics.forgetServersExcept(live);
    for (const key of this.health.keys()) {
      if (live.has(key)) continue;
      this.health.delete(key);
      clearTimeout(this.ejectionTimers.get(key));
      this.ejectionTimers.delete(key);
    }
  }

  /**
   * Names are global. A router belongs to the first provider that defines it. A service defined
   * by several providers keeps the first one's settings and pools every provider's servers, so
   * that lb.yaml can tune a service whose servers are containers. Middlewares are named per
   * provider, as Traefik names them (`auth@file`, `auth@docker`); a router's reference without
   * a provider means its own provider's.
   */
  private merge(): DynamicConfig {
    const routers = new Map<string, RouterConfig>();
    const services = new Map<string, ServiceConfig>();
    const middlewares = new Map<string, MiddlewareConfig>();
    const duplicates = new Set<string>();
    for (const [provider, config] of this.published) {
      for (const [name, router] of config.routers) {
        if (routers.has(name)) {
          const key = `${provider}\0${name}`;
          duplicates.add(key);
          if (!this.duplicateRouters.has(key)) this.logger.warn({ provider, router: name }, 'router defined by two providers; keeping the first');
        }
        else routers.set(name, router.middlewares ? { ...router, middlewares: router.middlewares.map((ref) => (ref.includes('@') ? ref : `${ref}@${provider}`)) } : router);
      }
      for (const [name, middleware] of config.middlewares ?? []) middlewares.set(`${name}@${provider}`, middleware);
      for (const [name, service] of config.services) {
        const first = services.get(name);
        services.set(name, first ? { ...first, servers: [...first.servers, ...service.servers] } : service);
      }
    }
    // Said once while the clash lasts, not at every publish of either provider.
    this.duplicateRouters = duplicates;
    return { routers, services, middlewares };
  }
}

function healthKey(service: string, backend: Backend): ServerKey {
  return serverKey(service, backend.origin);
}

function checkTargets(snapshot: RoutingSnapshot): CheckTarget[] {
  const targets: CheckTarget[] = [];
  for (const service of snapshot.services.values()) {
    const check = service.config.healthCheck;
    if (check) for (const backend of service.backends) targets.push({ service: service.name, backend, check, tls: service.config.tls, http2: service.config.http2 });
  }
  return targets;
}
