import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { AdminServer } from './admin/server.js';
import type { EntrypointConfig, LbConfig } from './config/types.js';
import { ControlLoop } from './control/control-loop.js';
import type { Logger } from './log.js';
import { AccessLog } from './metrics/access-log.js';
import { Metrics } from './metrics/metrics.js';
import { RetryBudgets, type DataPlaneContext } from './proxy/context.js';
import { HttpEntrypoint } from './proxy/http/server.js';
import { UpstreamPools } from './proxy/http/upstream-pools.js';
import { TcpEntrypoint } from './proxy/tcp/server.js';
import { DockerProvider } from './providers/docker/provider.js';
import { FileProvider } from './providers/file.js';

type Entrypoint = HttpEntrypoint | TcpEntrypoint;

export interface RunningBalancer {
  /** Bound addresses by entrypoint name, plus `admin`. */
  readonly addresses: Readonly<Record<string, AddressInfo>>;
  readonly control: ControlLoop;
  readonly metrics: Metrics;
  /** Applies a new, already validated configuration without a restart. */
  reload(config: LbConfig): Promise<void>;
  /** From now on /healthz answers 503; then stops accepting and drains for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

function sameListener(a: EntrypointConfig, b: EntrypointConfig): boolean {
  return a.protocol === b.protocol && a.address.host === b.address.host && a.address.port === b.address.port;
}

/**
 * One balancer: providers feed the control loop, the control loop publishes snapshots, and
 * entrypoints serve from the latest snapshot. At start, either every listener opens or none stays
 * open. A reload changes only what differs: unchanged listeners keep their sockets and
 * connections, pools change in place, removed servers drain.
 */
class Balancer implements RunningBalancer {
  readonly addresses: Record<string, AddressInfo> = {};
  readonly metrics = new Metrics();
  readonly control: ControlLoop;
  private readonly pools = new UpstreamPools();
  private readonly context: DataPlaneContext;
  private readonly entrypoints = new Map<string, Entrypoint>();
  private readonly fileProvider: FileProvider;
  private docker: DockerProvider | undefined;
  private readonly admin: AdminServer;
  private stopping: Promise<void> | undefined;

  constructor(
    private config: LbConfig,
    private readonly logger: Logger,
  ) {
    const { metrics, pools } = this;
    this.control = new ControlLoop(config.entrypoints, logger, metrics);
    const control = this.control;
    control.subscribe((snapshot) => pools.retain(snapshot));
    metrics.watchBackends(
      () =>
        [...control.snapshot.services.values()].map((service) => ({
          name: service.name,
          panic: service.panic,
          backends: service.backends.map((b) => ({ id: b.id, inFlight: b.inFlight, up: control.isUsable(service.name, b) })),
        })),
      () => pools.draining(),
    );
    this.context = {
      snapshot: () => control.snapshot,
      metrics,
      logger,
      pools,
      signals: { reportOutlier: (service, backend) => control.reportOutlier(service, backend), nextSnapshot: (ms) => control.nextSnapshot(ms) },
      retryBudgets: new RetryBudgets(),
      accessLog: config.accessLog.enabled ? new AccessLog(config.accessLog.path) : undefined,
    };
    this.fileProvider = new FileProvider(config);
    this.admin = new AdminServer(config.admin.address, {
      snapshot: () => control.snapshot,
      listening: () => Object.fromEntries(Object.entries(this.addresses).map(([name, a]) => [name, formatAddress(a)])),
      providers: () => (this.docker ? { docker: this.docker.describe() } : {}),
      serverHealth: (service, backend) => {
        const health = control.healthOf(service, backend);
        const now = Date.now();
        return {
          healthy: health?.up ?? true,
          ejectedUntil: health?.isEjected(now) ? new Date(health.ejectedUntil).toISOString() : null,
          lastCheck: health?.lastCheck ? { ...health.lastCheck, at: new Date(health.lastCheck.at).toISOString() } : null,
        };
      },
      draining: () => pools.draining(),
      onChange: (listener) => control.subscribe(listener),
      metrics,
      logger,
    }, config.admin.token);
  }

  async start(): Promise<void> {
    this.recordLoad();
    await this.control.startProvider(this.fileProvider);
    await this.startDocker();
    try {
      for (const ep of this.config.entrypoints.values()) await this.open(ep);
      this.addresses.admin = await this.admin.listen();
      this.logger.info({ address: formatAddress(this.addresses.admin) }, 'admin API listening (/, /healthz, /metrics, /api/state)');
    } catch (err) {
      await this.shutdown(0);
      throw err;
    }
  }

  async reload(next: LbConfig): Promise<void> {
    const previous = this.config;
    // Listeners first: a new one that cannot bind fails the reload before anything changed.
    const opened: string[] = [];
    try {
      for (const ep of next.entrypoints.values()) {
        const current = this.entrypoints.get(ep.name);
        if (current && sameListener(previous.entrypoints.get(ep.name)!, ep)) continue;
        if (current) {
          // Same name, new address or protocol: free the old listener (it drains), then bind.
          this.entrypoints.delete(ep.name);
          void current.close(next.shutdownTimeoutMs);
        }
        await this.open(ep);
        opened.push(ep.name);
      }
    } catch (err) {
      for (const name of opened) void this.entrypoints.get(name)?.close(0);
      for (const name of opened) this.entrypoints.delete(name);
      this.metrics.configReloads.labels('error').inc();
      throw err;
    }
    for (const [name, ep] of this.entrypoints) {
      const wanted = next.entrypoints.get(name);
      if (!wanted) {
        this.entrypoints.delete(name);
        delete this.addresses[name];
        this.logger.info({ entrypoint: name }, 'entrypoint removed: draining its connections');
        void ep.close(next.shutdownTimeoutMs);
      } else if (!opened.includes(name)) {
        ep.update(wanted);
      }
    }

    this.config = next;
    this.logger.level = next.log.level;
    this.control.setEntrypoints(next.entrypoints);
    this.fileProvider.update(next);
    if (!isDeepStrictEqual(previous.providers.docker, next.providers.docker)) {
      await this.docker?.stop();
      this.docker = undefined;
      this.control.removeProvider('docker');
      await this.startDocker();
    }
    if (!isDeepStrictEqual(previous.accessLog, next.accessLog)) {
      const old = this.context.accessLog;
      this.context.accessLog = next.accessLog.enabled ? new AccessLog(next.accessLog.path) : undefined;
      await old?.close();
    }
    this.admin.setToken(next.admin.token);
    if (previous.admin.address.text !== next.admin.address.text) {
      this.logger.warn({ from: previous.admin.address.text, to: next.admin.address.text }, 'admin.address changes take effect at the next restart');
    }
    this.recordLoad();
    this.logger.info({ config: next.source, entrypoints: next.entrypoints.size, routers: next.routers.size, services: next.services.size }, 'configuration reloaded');
  }

  stop(graceMs = this.config.shutdownTimeoutMs): Promise<void> {
    return (this.stopping ??= this.shutdown(graceMs));
  }

  private recordLoad(): void {
    this.metrics.configReloads.labels('success').inc();
    this.metrics.configLastSuccess.set(Date.now() / 1000);
  }

  private async startDocker(): Promise<void> {
    if (!this.config.providers.docker.enabled) return;
    this.docker = new DockerProvider(this.config.providers.docker, this.config.entrypoints, this.logger, this.metrics);
    await this.control.startProvider(this.docker);
  }

  private async open(config: EntrypointConfig): Promise<void> {
    const ep = config.protocol === 'tcp' ? new TcpEntrypoint(config, this.context) : new HttpEntrypoint(config, this.context);
    const address = await ep.listen();
    this.entrypoints.set(config.name, ep);
    this.addresses[config.name] = address;
    this.logger.info({ entrypoint: config.name, protocol: config.protocol, address: formatAddress(address) }, 'entrypoint listening');
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.admin.markShuttingDown();
    await Promise.all([...this.entrypoints.values()].map((ep) => ep.close(graceMs)));
    await Promise.all([this.fileProvider.stop(), this.docker?.stop()]);
    this.control.stop();
    await this.pools.close();
    await this.context.accessLog?.close();
    await this.admin.close();
  }
}

export async function startBalancer(config: LbConfig, logger: Logger): Promise<RunningBalancer> {
  const balancer = new Balancer(config, logger);
  await balancer.start();
  return balancer;
}
