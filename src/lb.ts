import type { AddressInfo } from 'node:net';
import { AdminServer } from './admin/server.js';
import type { LbConfig } from './config/types.js';
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
import type { Provider } from './providers/provider.js';

export interface RunningBalancer {
  /** Bound addresses by entrypoint name, plus `admin`. */
  readonly addresses: Readonly<Record<string, AddressInfo>>;
  readonly control: ControlLoop;
  readonly metrics: Metrics;
  /** Stops accepting, lets open work finish for up to `graceMs`, then closes everything. */
  stop(graceMs?: number): Promise<void>;
}

function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/**
 * Assembles and starts one balancer: providers feed the control loop, the control loop publishes
 * snapshots, entrypoints serve from the latest snapshot. Either every listener starts, or none
 * stays open and the error is thrown.
 */
export async function startBalancer(config: LbConfig, logger: Logger): Promise<RunningBalancer> {
  const metrics = new Metrics();
  const control = new ControlLoop(config.entrypoints, logger, metrics);
  const pools = new UpstreamPools();
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

  const context: DataPlaneContext = {
    snapshot: () => control.snapshot,
    metrics,
    logger,
    pools,
    signals: { reportOutlier: (service, backend) => control.reportOutlier(service, backend), nextSnapshot: (ms) => control.nextSnapshot(ms) },
    retryBudgets: new RetryBudgets(),
    accessLog: config.accessLog.enabled ? new AccessLog(config.accessLog.path) : undefined,
  };
  metrics.configReloads.labels('success').inc();
  metrics.configLastSuccess.set(Date.now() / 1000);
  const entrypoints = [...config.entrypoints.values()].map((ep) => (ep.protocol === 'tcp' ? new TcpEntrypoint(ep, context) : new HttpEntrypoint(ep, context)));
  const addresses: Record<string, AddressInfo> = {};
  const admin = new AdminServer(config.admin.address, {
    snapshot: () => control.snapshot,
    providers: () => (docker ? { docker: docker.describe() } : {}),
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
    listening: () => Object.fromEntries(Object.entries(addresses).map(([name, a]) => [name, formatAddress(a)])),
    metrics,
    logger,
  }, config.admin.token);

  const providers: Provider[] = [new FileProvider(config)];
  const docker = config.providers.docker.enabled ? new DockerProvider(config.providers.docker, config.entrypoints, logger, metrics) : undefined;
  if (docker) providers.push(docker);
  for (const provider of providers) await control.startProvider(provider);

  const stopAll = async (graceMs: number) => {
    admin.markShuttingDown();
    await Promise.all(entrypoints.map((ep) => ep.close(graceMs)));
    await Promise.all(providers.map((provider) => provider.stop()));
    control.stop();
    await pools.close();
    await context.accessLog?.close();
    await admin.close();
  };

  try {
    for (const ep of entrypoints) {
      addresses[ep.name] = await ep.listen();
      logger.info({ entrypoint: ep.name, protocol: config.entrypoints.get(ep.name)!.protocol, address: formatAddress(addresses[ep.name]!) }, 'entrypoint listening');
    }
    addresses.admin = await admin.listen();
    logger.info({ address: formatAddress(addresses.admin) }, 'admin API listening (/healthz, /metrics, /api/state)');
  } catch (err) {
    await stopAll(0);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    addresses,
    control,
    metrics,
    stop: (graceMs = config.shutdownTimeoutMs) => (stopping ??= stopAll(graceMs)),
  };
}
