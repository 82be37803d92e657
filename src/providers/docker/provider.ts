import { hostname } from 'node:os';
import type { DockerProviderConfig, EntrypointConfig, Protocol, ServerConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import { chooseAddress, choosePort, type ContainerInfo } from './address.js';
import { DockerClient, type DockerEvent } from './client.js';
import { keepConnected, mapLimit, readEvents } from './follow.js';
import { LabelProvider } from './label-provider.js';
import { LabelRoutes, type LabelSource, type ServerPlacement } from './label-routes.js';
import type { LabelService } from './labels.js';

const containerActions = new Set(['create', 'start', 'restart', 'unpause', 'pause', 'kill', 'stop', 'die', 'destroy', 'rename', 'health_status']);
/** Signals that end a container (docker stop sends 15, or the image's STOPSIGNAL); HUP and USR1 reload. */
const stopSignals = new Set(['2', '3', '9', '15', 'SIGINT', 'SIGQUIT', 'SIGKILL', 'SIGTERM', 'INT', 'QUIT', 'KILL', 'TERM']);

/**
 * Turns labelled containers into routers and services. It lists and inspects everything once,
 * then follows /events and re-inspects only the container an event names; a full resync runs
 * every `resyncInterval` to heal missed events. When Docker goes away the last pools stay in
 * service while it reconnects with capped exponential backoff, forever.
 */
export class DockerProvider extends LabelProvider {
  readonly name = 'docker';
  private readonly client: DockerClient;
  private readonly containers = new Map<string, ContainerInfo>();
  /** Containers that received a kill (the first step of `docker stop`): no new traffic. */
  private readonly stopping = new Set<string>();
  private readonly pending = new Set<string>();
  private readonly routes: LabelRoutes;
  private ownNetworks: string[] | undefined;
  private lastEventSeconds: number | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly options: DockerProviderConfig,
    entrypoints: ReadonlyMap<string, EntrypointConfig>,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    super('containers');
    this.client = new DockerClient(options.endpoint);
    this.routes = new LabelRoutes(options, entrypoints, logger, 'container', () => metrics.docker.labelErrors.inc());
  }

  protected get endpoint(): string {
    return this.client.endpoint;
  }

  protected run(firstAttempt: () => void): Promise<void> {
    const signal = this.abort.signal;
    return keepConnected({
      what: 'Docker',
      endpoint: this.client.endpoint,
      logger: this.logger,
      signal,
      setConnected: (connected) => this.setConnected(connected),
      firstAttempt,
      connect: async () => {
        await this.client.ping();
        const version = await this.client.version();
        if (this.ownNetworks === undefined) await this.findOwnContainer();
        // Events from just before the sync started are replayed; re-inspecting is idempotent.
        const since = this.lastEventSeconds ?? Math.floor(Date.now() / 1000) - 1;
        await this.syncAll();
        return { fields: { version, containers: this.containers.size }, follow: () => this.follow(since, signal) };
      },
    });
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    this.metrics.docker.connected.set(connected ? 1 : 0);
  }

  /** When lb runs in a container, its networks decide rule 7 of address selection. */
  private async findOwnContainer(): Promise<void> {
    const self = await this.client.inspect(hostname()).catch(() => undefined);
    this.ownNetworks = self ? self.networks.map((n) => n.name) : [];
    if (self) this.logger.info({ container: self.name, networks: this.ownNetworks }, 'lb runs in a container; preferring the networks it shares');
  }

  private async syncAll(): Promise<void> {
    const started = performance.now();
    const ids = await this.client.listContainerIds();
    const infos = await mapLimit(ids, 16, (id) => this.client.inspect(id));
    this.containers.clear();
    for (const info of infos) if (info) this.containers.set(info.id, info);
    for (const id of this.stopping) if (!this.containers.get(id)?.running) this.stopping.delete(id);
    this.routes.forget((id) => this.containers.has(id));
    this.rebuild();
    this.lastSync = Date.now();
    this.metrics.docker.lastSync.set(this.lastSync / 1000);
    this.logger.debug({ containers: this.containers.size, ms: Math.round(performance.now() - started) }, 'Docker full sync');
  }

  private async follow(since: number, signal: AbortSignal): Promise<void> {
    const stream = await this.client.events(since, signal);
    const resync = setInterval(() => {
      this.syncAll().catch((err: Error) => this.logger.warn({ err: err.message }, 'Docker resync failed'));
    }, this.options.resyncIntervalMs);
    try {
      await readEvents(stream, signal, (event) => this.onEvent(event));
    } finally {
      clearInterval(resync);
    }
  }

  private onEvent(event: DockerEvent): void {
    if (event.timeNano) this.lastEventSeconds = Math.floor(event.timeNano / 1e9);
    else if (event.time) this.lastEventSeconds = event.time;
    const action = event.Action.split(':')[0]!.trim();
    let id: string | undefined;
    if (event.Type === 'container' && containerActions.has(action)) id = event.Actor?.ID ?? event.id;
    else if (event.Type === 'network' && (action === 'connect' || action === 'disconnect')) id = event.Actor?.Attributes?.container;
    if (!id) return;
    this.metrics.dockerEvents.labels(action).inc();
    // A stopping container stays out until it starts again, not merely until it dies: an inspect
    // issued before the die (on the kill event) can answer "running" after it, and would put the
    // dead container's address back for a moment, an address Docker may already have given to
    // another container.
    if (action === 'kill' && stopSignals.has(event.Actor?.Attributes?.signal ?? '15')) this.stopping.add(id);
    else if (action === 'start' || action === 'restart' || action === 'unpause' || action === 'destroy') this.stopping.delete(id);
    if (action === 'destroy') {
      this.containers.delete(id);
      this.rebuild();
      return;
    }
    // A kill drains at once, before the container has even started to stop.
    if (action === 'kill' && this.containers.has(id)) this.rebuild();
    this.pending.add(id);
    this.flushing ??= Promise.resolve().then(() => this.flush());
  }

  /** Inspects every container that events named since the last flush, then publishes once. */
  private async flush(): Promise<void> {
    while (this.pending.size) {
      const ids = [...this.pending];
      this.pending.clear();
      const infos = await mapLimit(ids, 16, (id) => this.client.inspect(id).catch((err: Error) => err));
      infos.forEach((info, i) => {
        if (info instanceof Error) this.logger.warn({ container: ids[i], err: info.message }, 'cannot inspect container');
        else if (info) this.containers.set(info.id, info);
        else this.containers.delete(ids[i]!);
      });
      this.rebuild();
    }
    this.flushing = undefined;
  }

  /** Recomputes routers and services from every known container and publishes them. */
  private rebuild(): void {
    const byId = (key: string) => this.containers.get(key) ?? [...this.containers.values()].find((c) => c.id.startsWith(key) || c.name === key);
    const prefix = this.options.labelPrefix;
    // Oldest first, so that the newest replica's service-level settings win.
    const ordered = [...this.containers.values()].sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
    const sources: LabelSource[] = [];
    for (const container of ordered) {
      const oneOff = container.oneOff && !this.options.includeOneOff;
      if (oneOff && !Object.keys(container.labels).some((k) => k.toLowerCase().startsWith(`${prefix}.`))) continue;
      const lifecycle = this.lifecycleReason(container);
      sources.push({
        id: container.id,
        name: container.name,
        labels: container.labels,
        ...(container.composeService !== undefined ? { composeService: container.composeService } : {}),
        ...(oneOff ? { leftOut: 'compose one-off container (providers.docker.includeOneOff: false)' } : {}),
        ...(lifecycle ? { lifecycle } : {}),
        place: (service, protocol) => [this.place(container, service, protocol, lifecycle, byId)],
      });
    }
    this.adopt(this.routes.build(sources));
  }

  private lifecycleReason(container: ContainerInfo): string | undefined {
    if (!container.running) return 'not running';
    if (container.paused) return 'paused';
    if (this.stopping.has(container.id)) return 'stopping (kill received): draining';
    if (container.health === 'starting' && !this.options.serveStarting) return 'health: starting';
    if (container.health === 'unhealthy' && !this.options.serveUnhealthy) return 'health: unhealthy';
    return undefined;
  }

  private place(container: ContainerInfo, service: LabelService, protocol: Protocol, lifecycle: string | undefined, resolve: (key: string) => ContainerInfo | undefined): ServerPlacement {
    const prefix = this.options.labelPrefix;
    const { server } = service;
    const port = choosePort(container, server.port, service.portLabel);
    if ('reason' in port) return { service: service.name, why: port.reason };
    const choice = chooseAddress(container, port.port, server.network, `${prefix}.network`, {
      resolve,
      ownNetworks: this.ownNetworks?.length ? this.ownNetworks : undefined,
      preferredNetworks: this.options.networks,
      hostAddress: this.options.hostAddress,
      useBindPort: this.options.useBindPort,
    });
    if (!choice.ok) return { service: service.name, why: choice.reason };
    const address = `${choice.host}:${choice.port}`;
    if (lifecycle) return { service: service.name, address, why: lifecycle };
    const scheme = protocol === 'tcp' ? 'tcp' : server.scheme;
    const placed: ServerConfig = { scheme, host: choice.host, port: choice.port, weight: server.weight };
    return { service: service.name, address, network: choice.network, why: choice.why, server: placed };
  }
}
