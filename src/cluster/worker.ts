import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { serverKey, type Backend } from '../balancer/index.js';
import type { LbConfig } from '../config/types.js';
import { SnapshotListeners } from '../control/snapshot-listeners.js';
import { buildSnapshot, type RoutingSnapshot } from '../control/snapshot.js';
import { retireMiddlewares } from '../middleware/chain.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics/metrics.js';
import { DataPlane, type SnapshotSource } from '../proxy/data-plane.js';
import { emptyTlsState, type TlsSource, type TlsState } from '../tls/state.js';
import { useLimitStore } from '../middleware/limits.js';
import { LeasedLimits } from './limits.js';
import type { ChallengesMessage, FromWorker, SnapshotMessage, ToWorker } from './messages.js';

const REPORT_EVERY_MS = 1_000;

function tell(message: FromWorker): void {
  process.send?.(message);
}

/**
 * A worker's view of routing: it rebuilds each snapshot the primary sends from the same inputs, so
 * that it holds its own Backend objects (in-flight counts, balancer state), and sends passive
 * signals back to the primary's control loop.
 */
class SnapshotFollower implements SnapshotSource {
  private current: RoutingSnapshot = buildSnapshot(new Map(), { routers: new Map(), services: new Map() }, undefined);
  private readonly listeners = new SnapshotListeners();

  get snapshot(): RoutingSnapshot {
    return this.current;
  }

  subscribe(listener: (snapshot: RoutingSnapshot) => void): () => void {
    return this.listeners.subscribe(listener);
  }

  nextSnapshot(timeoutMs: number): Promise<RoutingSnapshot | undefined> {
    return this.listeners.nextSnapshot(timeoutMs);
  }

  reportOutlier(service: string, backend: Backend): void {
    tell({ type: 'lb:outlier', service, origin: backend.origin });
  }

  apply(message: SnapshotMessage): void {
    const states = new Map(message.states.map(([service, origin, usable, known]) => [serverKey(service, origin), { usable, known }]));
    const previous = this.current;
    this.current = buildSnapshot(message.entrypoints, message, previous, (service, backend) => states.get(serverKey(service.name, backend.origin)) ?? { usable: false, known: false });
    retireMiddlewares(previous.middlewares, this.current.middlewares);
    this.listeners.notify(this.current);
  }
}

/** A worker's copy of the primary's certificates and session ticket keys. */
class TlsFollower implements TlsSource {
  private state: TlsState = emptyTlsState;
  private readonly listeners = new Set<(state: TlsState) => void>();

  get tls(): TlsState {
    return this.state;
  }

  subscribe(listener: (state: TlsState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(state: TlsState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
}

/**
 * A data-plane worker (`workers: N`): it runs the entrypoints of the configuration the primary
 * sends, serves from the snapshots the primary pushes, and exposes its registry to the primary's
 * AggregatorRegistry. It stops when the primary says so, or when the primary is gone.
 */
export function runWorker(): void {
  if (!cluster.isWorker) throw new Error('`lb worker` is started by lb itself when lb.yaml sets workers above 1');
  const id = cluster.worker!.id;
  const follower = new SnapshotFollower();
  const tls = new TlsFollower();
  const metrics = new Metrics('data');
  // As prom-client's cluster example does: constructing an AggregatorRegistry in the worker is what
  // makes it answer the primary's requests, and setRegistries says which registry to answer with.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([metrics.registry]);
  let logger: Logger | undefined;
  let dataPlane: DataPlane | undefined;
  /** The latest ACME challenges, kept for a data plane that is still starting. */
  let challenges: ChallengesMessage | undefined;
  // Signals sent to the whole process group (Ctrl-C) are the primary's to handle: it drains the
  // workers in order.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
  // Rate limits and in-flight limits count for lb as a whole: this worker leases tokens from the primary.
  const limits = new LeasedLimits(tell);
  useLimitStore(limits);

  const start = async (config: LbConfig) => {
    logger = createLogger(config.log.level).child({ worker: id });
    dataPlane = new DataPlane(config, follower, metrics, logger, tls);
    const plane = dataPlane;
    metrics.watchBackends(
      () => [...follower.snapshot.services.values()].map((service) => ({ name: service.name, panic: service.panic, backends: service.backends.map((b) => ({ id: b.id, inFlight: b.inFlight, up: true })) })),
      () => plane.draining(),
    );
    try {
      await plane.start();
    } catch (err) {
      tell({ type: 'lb:failed', message: (err as Error).message });
      process.exit(1);
    }
    if (challenges) {
      await plane.setChallenges(challenges);
      tell({ type: 'lb:acme-challenges-applied', version: challenges.version });
    }
    tell({ type: 'lb:listening', addresses: plane.addresses });
    setInterval(() => report(plane), REPORT_EVERY_MS).unref();
  };

  const report = (plane: DataPlane) => {
    const inFlight: Array<[string, string, number]> = [];
    for (const service of follower.snapshot.services.values()) for (const backend of service.backends) inFlight.push([service.name, backend.origin, backend.inFlight]);
    tell({ type: 'lb:report', traffic: plane.traffic(), draining: plane.draining(), inFlight });
  };

  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'lb:snapshot':
        follower.apply(message);
        break;
      case 'lb:tls':
        tls.apply(message.state);
        break;
      case 'lb:acme-challenges':
        challenges = message;
        void dataPlane?.setChallenges(message).then(() => tell({ type: 'lb:acme-challenges-applied', version: message.version }));
        break;
      case 'lb:start':
        void start(message.config);
        break;
      case 'lb:reload':
        void dataPlane?.reload(message.config).then(
          () => {
            logger!.level = message.config.log.level;
            tell({ type: 'lb:reloaded' });
          },
          (err: Error) => tell({ type: 'lb:reload-failed', message: err.message }),
        );
        break;
      case 'lb:limit-grant':
        limits.granted(message);
        break;
      case 'lb:limit-recall':
        limits.recall(message);
        break;
      case 'lb:stop':
        void (dataPlane?.stop(message.graceMs) ?? Promise.resolve()).finally(() => process.exit(0));
        break;
    }
  });
  tell({ type: 'lb:ready' });
}
