import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { AdminServer } from './admin/server.js';
import { WorkerPool } from './cluster/primary.js';
import type { LbConfig, LogLevel } from './config/types.js';
import { ControlLoop } from './control/control-loop.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics/metrics.js';
import { DataPlane, formatAddress, type DataPlaneHandle } from './proxy/data-plane.js';
import { DockerProvider } from './providers/docker/provider.js';
import { SwarmProvider } from './providers/swarm/provider.js';
import { FileProvider } from './providers/file.js';
import { AcmeManager } from './tls/acme/manager.js';
import type { IssuedCertificate } from './tls/acme/storage.js';

/** Called with each certificate ACME gets (new, renewed or loaded from storage). */
export type CertificateListener = (host: string, certificate: IssuedCertificate, resolver: string) => void;
import { acmeSource, CertificateStore, type CertificatePem } from './tls/certificate-store.js';

export interface RunningBalancer {
  /** Bound addresses by entrypoint name, plus `admin`. */
  readonly addresses: Readonly<Record<string, AddressInfo>>;
  readonly control: ControlLoop;
  readonly metrics: Metrics;
  /** The certificates of the https entrypoints and the session ticket keys. */
  readonly certificates: CertificateStore;
  /** Applies a new, already validated configuration without a restart. */
  reload(config: LbConfig): Promise<void>;
  /** From now on /healthz answers 503; then stops accepting and drains for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Certificates from ACME, as they come; returns a function that stops the calls. */
  onCertificate(listener: CertificateListener): () => void;
}

/** What the command line says, over lb.yaml. */
export interface BalancerOptions {
  /** `--log-level`: wins over `log.level` for the life of the process, across reloads and in every worker. */
  logLevel?: LogLevel;
}

/** The configuration with the command line's settings in place of lb.yaml's. */
function withCommandLine(config: LbConfig, options: BalancerOptions): LbConfig {
  const level = options.logLevel;
  return level === undefined || level === config.log.level ? config : { ...config, log: { ...config.log, level } };
}

/**
 * One balancer: providers feed the control loop, the control loop publishes snapshots, and the
 * data plane serves from the latest one: in this process (`workers: 1`), or in N worker processes
 * that the snapshots are pushed to (see cluster/). Either every listener opens or none stays open.
 */
class Balancer implements RunningBalancer {
  readonly addresses: Record<string, AddressInfo> = {};
  readonly metrics: Metrics;
  readonly control: ControlLoop;
  readonly certificates: CertificateStore;
  /** The data plane: in process, or its workers. */
  private readonly plane: DataPlaneHandle;
  private readonly fileProvider: FileProvider;
  private docker: DockerProvider | undefined;
  private swarm: SwarmProvider | undefined;
  private readonly admin: AdminServer;
  private stopping: Promise<void> | undefined;
  private config: LbConfig;
  private acme: AcmeManager | undefined;
  private readonly certificateListeners = new Set<CertificateListener>();
  /** resolver → host → the certificate ACME gave it, as served. */
  private readonly acmeCertificates = new Map<string, Map<string, CertificatePem>>();
  private readonly unsubscribeAcme: () => void;

  constructor(
    loaded: LbConfig,
    private readonly logger: Logger,
    private readonly options: BalancerOptions,
  ) {
    const config = (this.config = withCommandLine(loaded, options));
    const clustered = config.workers > 1;
    const metrics = (this.metrics = new Metrics(clustered ? 'control' : 'all'));
    const control = (this.control = new ControlLoop(config.entrypoints, logger, metrics));
    const certificates = (this.certificates = new CertificateStore(logger));
    metrics.watchCertificates(() => certificates.certificates());
    const plane = (this.plane = clustered ? new WorkerPool(config, control, metrics, logger, certificates) : new DataPlane(config, control, metrics, logger, certificates));
    const draining = () => plane.draining();
    metrics.watchBackends(
      () =>
        [...control.snapshot.services.values()].map((service) => ({
          name: service.name,
          panic: service.panic,
          backends: service.backends.map((b) => ({ id: b.id, inFlight: plane.inFlight(service.name, b), up: control.isUsable(service.name, b) })),
        })),
      draining,
    );
    this.fileProvider = new FileProvider(config);
    this.admin = new AdminServer(config.admin.address, {
      snapshot: () => control.snapshot,
      listening: () => Object.fromEntries(Object.entries(this.addresses).map(([name, a]) => [name, formatAddress(a)])),
      providers: () => ({ ...(this.docker ? { docker: this.docker.describe() } : {}), ...(this.swarm ? { swarm: this.swarm.describe() } : {}) }),
      serverHealth: (service, backend) => {
        const health = control.healthOf(service, backend);
        const now = Date.now();
        return {
          healthy: health?.up ?? true,
          ejectedUntil: health?.isEjected(now) ? new Date(health.ejectedUntil).toISOString() : null,
          lastCheck: health?.lastCheck ? { ...health.lastCheck, at: new Date(health.lastCheck.at).toISOString() } : null,
        };
      },
      draining,
      inFlight: (service, backend) => plane.inFlight(service, backend),
      onChange: (listener) => control.subscribe(listener),
      metricsText: () => plane.metricsText(),
      traffic: () => plane.traffic(),
      acme: () => this.acme?.describe() ?? null,
      certificates: (entrypoint) => [...(certificates.tls.entrypoints.get(entrypoint)?.certificates ?? [])],
      logger,
    }, config.admin.token);
    this.unsubscribeAcme = control.subscribe((snapshot) => this.acme?.sync(snapshot));
  }

  onCertificate(listener: CertificateListener): () => void {
    this.certificateListeners.add(listener);
    return () => this.certificateListeners.delete(listener);
  }

  /**
   * An ACME certificate joins the certificates of the https entrypoints whose `tls.acme` names its
   * resolver (after their own files), and reaches every worker with the next TLS state.
   */
  private serveAcmeCertificate(host: string, certificate: IssuedCertificate, resolver: string): void {
    let hosts = this.acmeCertificates.get(resolver);
    if (!hosts) this.acmeCertificates.set(resolver, (hosts = new Map()));
    hosts.set(host, { cert: certificate.certPem, key: certificate.keyPem });
    try {
      this.certificates.setSource(acmeSource(resolver), [...hosts.values()]);
    } catch (err) {
      this.logger.error({ resolver, host, code: (err as { code?: string }).code }, `ACME certificate not served: ${(err as Error).message}`);
    }
  }

  /** The ACME manager for the resolvers of `config`, a new one when they changed; it orders for the current snapshot. */
  private startAcme(previous: LbConfig | undefined): void {
    if (previous && isDeepStrictEqual(previous.acme, this.config.acme)) return;
    this.acme?.stop();
    this.acme = undefined;
    if (this.config.acme.size === 0) return;
    this.acme = new AcmeManager(this.config.acme, {
      onCertificate: (host, certificate, resolver) => {
        this.serveAcmeCertificate(host, certificate, resolver);
        for (const listener of this.certificateListeners) listener(host, certificate, resolver);
      },
      onChallenges: (challenges) => this.plane.setChallenges(challenges),
    }, this.metrics, this.logger);
    this.acme.sync(this.control.snapshot);
  }

  async start(): Promise<void> {
    try {
      // Before anything starts: a certificate that cannot be used stops lb here.
      this.certificates.load(this.config.entrypoints);
    } catch (err) {
      this.certificates.stop();
      throw err;
    }
    this.recordLoad();
    await this.control.startProvider(this.fileProvider);
    await Promise.all([this.startDocker(), this.startSwarm()]);
    try {
      await this.plane.start();
      Object.assign(this.addresses, this.plane.addresses);
      this.addresses.admin = await this.admin.listen();
      this.logger.info({ address: formatAddress(this.addresses.admin) }, 'admin API listening (/, /healthz, /metrics, /api/state)');
      // Once the entrypoints listen: http-01 validations connect to them.
      this.startAcme(undefined);
    } catch (err) {
      await this.shutdown(0);
      throw err;
    }
  }

  async reload(loaded: LbConfig): Promise<void> {
    const next = withCommandLine(loaded, this.options);
    const previous = this.config;
    if (next.workers !== previous.workers) this.logger.warn({ from: previous.workers, to: next.workers }, 'workers changes take effect at the next restart');
    const nextForPlane = { ...next, workers: previous.workers };
    // Certificates first: one that cannot be used fails the reload before anything changed. They
    // and the snapshots for new entrypoints must reach the data plane before it listens on them.
    const undoCertificates = this.certificates.load(next.entrypoints);
    this.control.setEntrypoints(next.entrypoints);
    try {
      await this.plane.reload(nextForPlane);
    } catch (err) {
      this.control.setEntrypoints(previous.entrypoints);
      undoCertificates();
      throw err;
    }
    for (const name of Object.keys(this.addresses)) if (name !== 'admin' && !next.entrypoints.has(name)) delete this.addresses[name];
    Object.assign(this.addresses, this.plane.addresses);
    this.config = nextForPlane;
    this.logger.level = next.log.level;
    this.startAcme(previous);
    this.fileProvider.update(next);
    if (!isDeepStrictEqual(previous.providers.docker, next.providers.docker)) {
      await this.docker?.stop();
      this.docker = undefined;
      this.control.removeProvider('docker');
      await this.startDocker();
    }
    if (!isDeepStrictEqual(previous.providers.swarm, next.providers.swarm)) {
      await this.swarm?.stop();
      this.swarm = undefined;
      this.control.removeProvider('swarm');
      await this.startSwarm();
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

  private async startSwarm(): Promise<void> {
    if (!this.config.providers.swarm.enabled) return;
    this.swarm = new SwarmProvider(this.config.providers.swarm, this.config.entrypoints, this.logger, this.metrics);
    await this.control.startProvider(this.swarm);
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.admin.markShuttingDown();
    this.unsubscribeAcme();
    this.acme?.stop();
    await this.plane.stop(graceMs);
    await Promise.all([this.fileProvider.stop(), this.docker?.stop(), this.swarm?.stop()]);
    this.control.stop();
    this.certificates.stop();
    await this.admin.close();
  }
}

export async function startBalancer(config: LbConfig, logger: Logger, options: BalancerOptions = {}): Promise<RunningBalancer> {
  const balancer = new Balancer(config, logger, options);
  await balancer.start();
  return balancer;
}
