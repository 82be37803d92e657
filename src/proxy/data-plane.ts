import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { Backend } from '../balancer/index.js';
import type { EntrypointConfig, LbConfig } from '../config/types.js';
import type { RoutingSnapshot } from '../control/snapshot.js';
import type { Logger } from '../log.js';
import { AccessLog } from '../metrics/access-log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ServerCounts, TrafficStats } from '../metrics/traffic.js';
import { emptyTlsState, type TlsSource } from '../tls/state.js';
import { ConnectionLimits } from './connection-limits.js';
import type { DataPlaneContext } from './context.js';
import { RetryBudgets } from './http/retry-budget.js';
import { HttpEntrypoint } from './http/server.js';
import { UpstreamPools } from './http/upstream-pools.js';
import { TcpEntrypoint } from './tcp/server.js';
import { AcmeChallenges, type ChallengeSet } from '../tls/acme/challenges.js';

type Entrypoint = HttpEntrypoint | TcpEntrypoint;

/** Where the data plane gets its routing, and where its passive signals go. */
export interface SnapshotSource {
  readonly snapshot: RoutingSnapshot;
  subscribe(listener: (snapshot: RoutingSnapshot) => void): () => void;
  nextSnapshot(timeoutMs: number): Promise<RoutingSnapshot | undefined>;
  reportOutlier(service: string, backend: Backend): void;
}

/**
 * The data plane as the balancer drives it, whether it runs in this process (DataPlane) or in
 * worker processes (WorkerPool): start, reload and stop it, and read what it counts.
 */
export interface DataPlaneHandle {
  /** Bound addresses by entrypoint name. */
  readonly addresses: Readonly<Record<string, AddressInfo>>;
  /** Either every listener opens or none stays open. */
  start(): Promise<void>;
  reload(next: LbConfig): Promise<void>;
  /** Stops accepting, lets open requests finish for up to `graceMs`, then closes everything. */
  stop(graceMs: number): Promise<void>;
  /** Servers removed from their pools that still finish in-flight requests. */
  draining(): Array<{ service: string; backend: string }>;
  /** Requests or tunnels open to a server of the control loop's snapshot. */
  inFlight(service: string, backend: Backend): number;
  /** Traffic so far per service, server and entrypoint, for the dashboard. */
  traffic(): TrafficStats;
  /** The Prometheus exposition of the whole balancer: the registry shared with the control loop, and the workers' metrics when there are any. */
  metricsText(): Promise<string>;
  /** The pending ACME challenges to answer; resolves once every process answers with them. */
  setChallenges(challenges: ChallengeSet): Promise<void>;
}

export function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

function sameListener(a: EntrypointConfig, b: EntrypointConfig): boolean {
  // HTTP/2 on or off changes what TLS offers (ALPN) or how a connection's first bytes are read: a new listener.
  return a.protocol === b.protocol && a.address.host === b.address.host && a.address.port === b.address.port && (a.http2 === undefined) === (b.http2 === undefined);
}

/** For a data plane without https entrypoints. */
const noTls: TlsSource = { tls: emptyTlsState, subscribe: () => () => undefined };

/**
 * The entrypoints of one process and what they share: upstream pools, retry budgets, the access
 * log. It serves from the snapshots of its source, in the same process as the control loop or in a
 * worker. At start, either every listener opens or none stays open; a reload changes only what
 * differs, so unchanged listeners keep their sockets and connections.
 */
export class DataPlane implements DataPlaneHandle {
  readonly addresses: Record<string, AddressInfo> = {};
  private readonly entrypoints = new Map<string, Entrypoint>();
  private readonly context: DataPlaneContext;
  private readonly pools = new UpstreamPools();
  private readonly unsubscribe: () => void;

  /** `tls`: the certificates of the https entrypoints (the CertificateStore, or a worker's copy). */
  constructor(
    private config: LbConfig,
    source: SnapshotSource,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    tls: TlsSource = noTls,
  ) {
    this.unsubscribe = source.subscribe((snapshot) => this.pools.retain(snapshot));
    this.context = {
      tls,
      portOf: (name) => this.addresses[name]?.port ?? 0,
      snapshot: () => source.snapshot,
      connectionLimits: new ConnectionLimits(metrics),
      metrics,
      logger,
      pools: this.pools,
      signals: { reportOutlier: (service, backend) => source.reportOutlier(service, backend), nextSnapshot: (ms) => source.nextSnapshot(ms) },
      retryBudgets: new RetryBudgets(),
      accessLog: config.accessLog.enabled ? new AccessLog(config.accessLog.path) : undefined,
      acmeChallenges: config.acme.size > 0 ? new AcmeChallenges() : undefined,
    };
  }

  async start(): Promise<void> {
    try {
      for (const ep of this.config.entrypoints.values()) await this.open(ep);
    } catch (err) {
      await this.stop(0);
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
    if (next.acme.size === 0) this.context.acmeChallenges = undefined;
    else this.context.acmeChallenges ??= new AcmeChallenges();
    if (!isDeepStrictEqual(previous.accessLog, next.accessLog)) {
      const old = this.context.accessLog;
      this.context.accessLog = next.accessLog.enabled ? new AccessLog(next.accessLog.path) : undefined;
      await old?.close();
    }
  }

  async stop(graceMs: number): Promise<void> {
    await Promise.all([...this.entrypoints.values()].map((ep) => ep.close(graceMs)));
    this.unsubscribe();
    await this.pools.close();
    await this.context.accessLog?.close();
  }

  draining(): Array<{ service: string; backend: string }> {
    return this.pools.draining();
  }

  /** The snapshot's Backend objects are the ones this process counts on. */
  inFlight(_service: string, backend: Backend): number {
    return backend.inFlight;
  }

  traffic(): TrafficStats {
    const servers: TrafficStats['servers'] = {};
    for (const service of this.context.snapshot().services.values()) {
      const counts: Record<string, ServerCounts> = (servers[service.name] = {});
      for (const backend of service.backends) counts[backend.id] = { ...backend.traffic, consecutiveFailures: backend.consecutiveFailures };
    }
    const entrypoints: TrafficStats['entrypoints'] = {};
    for (const { config } of this.context.snapshot().entrypoints.values()) entrypoints[config.name] = this.metrics.openConnections.cell({ entrypoint: config.name, protocol: config.protocol }).value;
    return { services: Object.fromEntries(this.metrics.serviceTraffic), servers, entrypoints };
  }

  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  async setChallenges(challenges: ChallengeSet): Promise<void> {
    this.context.acmeChallenges?.replace(challenges);
  }

  private async open(config: EntrypointConfig): Promise<void> {
    const ep = config.protocol === 'tcp' ? new TcpEntrypoint(config, this.context) : new HttpEntrypoint(config, this.context);
    // Only workers bind with SO_REUSEPORT; a single process has nobody to share the port with.
    const address = await ep.listen(this.config.workers > 1 && this.config.workerListen === 'reuse_port');
    this.entrypoints.set(config.name, ep);
    this.addresses[config.name] = address;
    this.logger.info({ entrypoint: config.name, protocol: config.protocol, address: formatAddress(address) }, 'entrypoint listening');
  }
}
