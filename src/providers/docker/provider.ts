import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { DockerProviderConfig, EntrypointConfig, MiddlewareConfig, Protocol, RouterConfig, ServerConfig } from '../../config/types.js';
import type { DynamicConfig } from '../../control/snapshot.js';
import { LbError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Provider } from '../provider.js';
import { chooseAddress, choosePort, type ContainerInfo } from './address.js';
import { DockerClient, type DockerEvent } from './client.js';
import { defaultName, parseLabels, placeRouter, type LabelService } from './labels.js';
import { ReplicaPools } from './replicas.js';

/** What /api/state says about one container: where it serves, or why it does not. */
export interface ContainerReport {
  id: string;
  name: string;
  inPool: boolean;
  services: Array<{ service: string; address?: string; network?: string; why: string }>;
  reason?: string;
}

const containerActions = new Set(['create', 'start', 'restart', 'unpause', 'pause', 'kill', 'stop', 'die', 'destroy', 'rename', 'health_status']);
const maxBackoffMs = 30_000;
/** Signals that end a container (docker stop sends 15, or the image's STOPSIGNAL); HUP and USR1 reload. */
const stopSignals = new Set(['2', '3', '9', '15', 'SIGINT', 'SIGQUIT', 'SIGKILL', 'SIGTERM', 'INT', 'QUIT', 'KILL', 'TERM']);

/**
 * Turns labelled containers into routers and services. It lists and inspects everything once,
 * then follows /events and re-inspects only the container an event names; a full resync runs
 * every `resyncInterval` to heal missed events. When Docker goes away the last pools stay in
 * service while it reconnects with capped exponential backoff, forever.
 */
export class DockerProvider implements Provider {
  readonly name = 'docker';
  private readonly client: DockerClient;
  private readonly containers = new Map<string, ContainerInfo>();
  /** Containers that received a kill (the first step of `docker stop`): no new traffic. */
  private readonly stopping = new Set<string>();
  private readonly reportedOnce = new Set<string>();
  private readonly pending = new Set<string>();
  private reports: ContainerReport[] = [];
  private labelErrors: Array<{ container: string; label: string; message: string }> = [];
  private labelWarnings: Array<{ container: string; label: string; message: string }> = [];
  private conflicts: string[] = [];
  private ownNetworks: string[] | undefined;
  private publish: (config: DynamicConfig) => void = () => undefined;
  private readonly abort = new AbortController();
  private lastEventSeconds: number | undefined;
  private lastSync: number | undefined;
  private connected = false;
  private flushing: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private publishedSignature = '';

  constructor(
    private readonly options: DockerProviderConfig,
    private readonly entrypoints: ReadonlyMap<string, EntrypointConfig>,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.client = new DockerClient(options.endpoint);
  }

  /** Resolves after the first sync, or after the first failure (lb then starts without Docker pools). */
  async start(publish: (config: DynamicConfig) => void): Promise<void> {
    this.publish = publish;
    let firstAttempt: () => void = () => undefined;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.running = this.run(firstAttempt);
    await attempted;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  describe() {
    return {
      endpoint: this.client.endpoint,
      connected: this.connected,
      lastSync: this.lastSync ? new Date(this.lastSync).toISOString() : null,
      containers: this.reports,
      labelErrors: this.labelErrors,
      labelWarnings: this.labelWarnings,
      conflicts: this.conflicts,
    };
  }

  private async run(firstAttempt: () => void): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.client.ping();
        const version = await this.client.version();
        if (this.ownNetworks === undefined) await this.findOwnContainer();
        // Events from just before the sync started are replayed; re-inspecting is idempotent.
        const since = this.lastEventSeconds ?? Math.floor(Date.now() / 1000) - 1;
        await this.syncAll();
        this.logger.info({ endpoint: this.client.endpoint, version, containers: this.containers.size }, failures > 0 ? 'reconnected to Docker' : 'connected to Docker');
        failures = 0;
        this.setConnected(true);
        firstAttempt();
        await this.follow(since, signal);
        if (!signal.aborted) this.logger.warn({ endpoint: this.client.endpoint }, 'Docker event stream ended; keeping the last known pools and reconnecting');
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        const message = err instanceof Error ? err.message : String(err);
        if (failures === 1 || failures % 10 === 0) {
          this.logger.error({ endpoint: this.client.endpoint, code: (err as LbError).code, attempt: failures }, message);
        }
        firstAttempt();
      }
      this.setConnected(false);
      if (signal.aborted) break;
      const backoff = Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 10));
      await delay(backoff, undefined, { signal }).catch(() => undefined);
    }
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    this.metrics.dockerConnected.set(connected ? 1 : 0);
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
    // Forget what was reported about containers that are gone, so that churn does not grow it.
    for (const key of this.reportedOnce) {
      const id = key.startsWith('label|') ? key.split('|')[1]! : undefined;
      if (id && !this.containers.has(id)) this.reportedOnce.delete(key);
    }
    this.rebuild();
    this.lastSync = Date.now();
    this.metrics.dockerLastSync.set(this.lastSync / 1000);
    this.logger.debug({ containers: this.containers.size, ms: Math.round(performance.now() - started) }, 'Docker full sync');
  }

  private async follow(since: number, signal: AbortSignal): Promise<void> {
    const stream = await this.client.events(since, signal);
    const resync = setInterval(() => {
      this.syncAll().catch((err: Error) => this.logger.warn({ err: err.message }, 'Docker resync failed'));
    }, this.options.resyncIntervalMs);
    try {
      let buffered = '';
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        buffered += chunk.toString('utf8');
        let newline: number;
        // One chunk may hold several events, or part of one.
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) this.onEvent(JSON.parse(line) as DockerEvent);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
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

  private reportOnce(key: string, log: () => void): boolean {
    if (this.reportedOnce.has(key)) return false;
    this.reportedOnce.add(key);
    log();
    return true;
  }

  /** Recomputes routers and services from every known container and publishes them. */
  private rebuild(): void {
    const prefix = this.options.labelPrefix;
    const routers = new Map<string, { router: RouterConfig; from: ContainerInfo; signature: string }>();
    const middlewares = new Map<string, { middleware: MiddlewareConfig; from: ContainerInfo; signature: string }>();
    const pools = new ReplicaPools();
    const reports: ContainerReport[] = [];
    const labelErrors: typeof this.labelErrors = [];
    const labelWarnings: typeof this.labelWarnings = [];
    const conflicts: string[] = [];
    const byId = (key: string) => this.containers.get(key) ?? [...this.containers.values()].find((c) => c.id.startsWith(key) || c.name === key);

    // Oldest first, so that the newest replica's service-level settings win.
    const ordered = [...this.containers.values()].sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
    for (const container of ordered) {
      const report: ContainerReport = { id: container.id.slice(0, 12), name: container.name, inPool: false, services: [] };
      const leaveOut = (reason: string) => {
        report.reason = reason;
        reports.push(report);
      };
      if (container.oneOff && !this.options.includeOneOff) {
        if (Object.keys(container.labels).some((k) => k.toLowerCase().startsWith(`${prefix}.`))) leaveOut('compose one-off container (providers.docker.includeOneOff: false)');
        continue;
      }
      const name = defaultName(container.name, container.composeService);
      const parsed = parseLabels(container.labels, { prefix, exposedByDefault: this.options.exposedByDefault, name, ...(container.composeService !== undefined ? { composeService: container.composeService } : {}) });
      const errors = [...parsed.errors];
      for (const warning of parsed.warnings) {
        labelWarnings.push({ container: container.name, ...warning });
        this.reportOnce(`label|${container.id}|${warning.label}|${warning.message}`, () => this.logger.warn({ container: container.name, label: warning.label }, `label accepted with a warning: ${warning.message}`));
      }
      if (!parsed.enabled && errors.length === 0) continue;
      const placedRouters = (parsed.config?.routers ?? []).map((router) => {
        const placed = placeRouter(router, this.options, this.entrypoints);
        if (placed.error) errors.push(placed.error);
        return placed.config;
      });
      if (errors.length || !parsed.config) {
        for (const error of errors) {
          labelErrors.push({ container: container.name, ...error });
          this.reportOnce(`label|${container.id}|${error.label}|${error.message}`, () => {
            this.metrics.dockerLabelErrors.inc();
            this.logger.warn({ container: container.name, label: error.label }, `label error, container left out: ${error.message}`);
          });
        }
        leaveOut(`label error: ${errors.map((e) => `${e.label}: ${e.message}`).join('; ')}`);
        continue;
      }

      for (const config of placedRouters) {
        const signature = JSON.stringify(config);
        const existing = routers.get(config.name);
        if (existing && existing.signature !== signature) {
          conflicts.push(`router ${config.name}: ${existing.from.name} and ${container.name} disagree; using ${container.name} (newest)`);
        }
        routers.set(config.name, { router: config, from: container, signature });
      }

      for (const middleware of parsed.config.middlewares.values()) {
        const signature = JSON.stringify(middleware, (_key, value: unknown) => (value instanceof Map ? [...value] : value));
        const existing = middlewares.get(middleware.name);
        if (existing && existing.signature !== signature) conflicts.push(`middleware ${middleware.name}: ${existing.from.name} and ${container.name} disagree; using ${container.name} (newest)`);
        middlewares.set(middleware.name, { middleware, from: container, signature });
      }

      const lifecycle = this.lifecycleReason(container);
      for (const service of parsed.config.services.values()) {
        pools.add(container.name, service);
        const placed = this.place(container, service, pools.protocolOf(service.name), byId);
        if ('reason' in placed) {
          report.services.push({ service: service.name, why: placed.reason });
          continue;
        }
        if (lifecycle) {
          report.services.push({ service: service.name, address: `${placed.server.host}:${placed.server.port}`, why: lifecycle });
          continue;
        }
        pools.addServer(service.name, placed.server);
        report.services.push({ service: service.name, address: `${placed.server.host}:${placed.server.port}`, network: placed.network, why: placed.why });
        report.inPool = true;
      }
      if (!report.inPool) report.reason = lifecycle ?? report.services.map((s) => `${s.service}: ${s.why}`).join('; ');
      reports.push(report);
    }

    const services = pools.build();
    conflicts.push(...pools.conflicts);
    for (const conflict of conflicts) this.reportOnce(`conflict|${conflict}`, () => this.logger.warn({}, `Docker label conflict: ${conflict}`));
    this.reports = reports;
    this.labelErrors = labelErrors;
    this.labelWarnings = labelWarnings;
    this.conflicts = conflicts;
    const dynamic: DynamicConfig = { routers: new Map([...routers].map(([name, { router }]) => [name, router])), services, middlewares: new Map([...middlewares].map(([name, { middleware }]) => [name, middleware])) };
    // Most events (create, connect, a resync) change nothing that routes: publish only changes.
    const signature = JSON.stringify([[...dynamic.routers], [...dynamic.services], [...middlewares].map(([, m]) => m.signature)]);
    if (signature === this.publishedSignature) return;
    this.publishedSignature = signature;
    this.publish(dynamic);
  }

  private lifecycleReason(container: ContainerInfo): string | undefined {
    if (!container.running) return 'not running';
    if (container.paused) return 'paused';
    if (this.stopping.has(container.id)) return 'stopping (kill received): draining';
    if (container.health === 'starting' && !this.options.serveStarting) return 'health: starting';
    if (container.health === 'unhealthy' && !this.options.serveUnhealthy) return 'health: unhealthy';
    return undefined;
  }

  private place(container: ContainerInfo, service: LabelService, protocol: Protocol, resolve: (key: string) => ContainerInfo | undefined): { server: ServerConfig; network: string; why: string } | { reason: string } {
    const prefix = this.options.labelPrefix;
    const { server } = service;
    const port = choosePort(container, server.port, service.portLabel);
    if ('reason' in port) return port;
    const choice = chooseAddress(container, port.port, server.network, `${prefix}.network`, {
      resolve,
      ownNetworks: this.ownNetworks?.length ? this.ownNetworks : undefined,
      preferredNetworks: this.options.networks,
      hostAddress: this.options.hostAddress,
      useBindPort: this.options.useBindPort,
    });
    if (!choice.ok) return { reason: choice.reason };
    const scheme = protocol === 'tcp' ? 'tcp' : server.scheme;
    return { server: { scheme, host: choice.host, port: choice.port, weight: server.weight }, network: choice.network, why: choice.why };
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
