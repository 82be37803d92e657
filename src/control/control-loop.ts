import type { EntrypointConfig, RouterConfig, ServiceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Provider } from '../providers/provider.js';
import { buildSnapshot, type DynamicConfig, type RoutingSnapshot } from './snapshot.js';

type Listener = (snapshot: RoutingSnapshot) => void;

/**
 * Merges what the providers publish into one immutable routing snapshot and hands it to the
 * data plane. This is the only writer of snapshots: providers and health signals come in,
 * snapshots go out.
 */
export class ControlLoop {
  private readonly entrypoints: ReadonlyMap<string, EntrypointConfig>;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private readonly published = new Map<string, DynamicConfig>();
  private readonly listeners: Listener[] = [];
  private current: RoutingSnapshot;

  constructor(entrypoints: ReadonlyMap<string, EntrypointConfig>, logger: Logger, metrics: Metrics) {
    this.entrypoints = entrypoints;
    this.logger = logger;
    this.metrics = metrics;
    this.current = buildSnapshot(entrypoints, { routers: new Map(), services: new Map() }, undefined);
  }

  get snapshot(): RoutingSnapshot {
    return this.current;
  }

  subscribe(listener: Listener): void {
    this.listeners.push(listener);
  }

  async startProvider(provider: Provider): Promise<void> {
    await provider.start((config) => this.publish(provider.name, config));
  }

  private publish(providerName: string, config: DynamicConfig): void {
    this.published.set(providerName, config);
    const started = performance.now();
    const snapshot = buildSnapshot(this.entrypoints, this.merge(), this.current);
    this.metrics.snapshotBuildDuration.observe((performance.now() - started) / 1000);
    const previous = this.current;
    this.current = snapshot;
    for (const service of snapshot.services.values()) {
      // Said once when a pool becomes empty, not on every snapshot while it stays so.
      const before = previous.services.get(service.name);
      if (service.backends.length === 0 && (!before || before.backends.length > 0)) {
        this.logger.warn({ service: service.name }, 'service has no servers: its requests will get 503 until one is added');
      }
    }
    this.logger.info({ provider: providerName, version: snapshot.version, routers: countRouters(snapshot), services: snapshot.services.size }, 'routing snapshot published');
    for (const listener of this.listeners) listener(snapshot);
  }

  /** Names are global: the first provider to define a router or service keeps it. */
  private merge(): DynamicConfig {
    const routers = new Map<string, RouterConfig>();
    const services = new Map<string, ServiceConfig>();
    for (const [provider, config] of this.published) {
      for (const [name, router] of config.routers) {
        if (routers.has(name)) this.logger.warn({ provider, router: name }, 'router defined by two providers; keeping the first');
        else routers.set(name, router);
      }
      for (const [name, service] of config.services) {
        if (services.has(name)) this.logger.warn({ provider, service: name }, 'service defined by two providers; keeping the first');
        else services.set(name, service);
      }
    }
    return { routers, services };
  }
}

function countRouters(snapshot: RoutingSnapshot): number {
  let count = 0;
  for (const ep of snapshot.entrypoints.values()) count += ep.routes?.size ?? (ep.tcp ? 1 : 0);
  return count;
}
