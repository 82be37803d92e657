import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import { serverKey, type Backend, type ServerKey } from '../balancer/index.js';
import type { LbConfig } from '../config/types.js';
import type { ControlLoop } from '../control/control-loop.js';
import type { RoutingSnapshot } from '../control/snapshot.js';
import { WorkerStartError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { sumTraffic, type TrafficStats } from '../metrics/traffic.js';
import type { DataPlaneHandle } from '../proxy/data-plane.js';
import type { ChallengeSet } from '../tls/acme/challenges.js';
import type { TlsSource, TlsState } from '../tls/state.js';
import { LimitAuthority } from './limits.js';
import { isFromWorker, type ChallengesMessage, type FromWorker, type SnapshotMessage, type WorkerReport } from './messages.js';

function tlsMessage(state: TlsState): { type: 'lb:tls'; state: TlsState } {
  return { type: 'lb:tls', state };
}

/** How long a worker may take to bind its listeners or apply a reload. */
const ANSWER_MS = 15_000;

/** How long the ACME challenges may take to reach every worker before the order goes on regardless. */
const CHALLENGES_MS = 5_000;

interface WorkerState {
  worker: Worker;
  report: WorkerReport | undefined;
  /** The version of the ACME challenges it answers with. */
  challenges: number;
  /** Waiting for this worker's answer to start or reload. */
  pending: ((message: FromWorker) => void) | undefined;
}

/**
 * The data-plane workers of `workers: N`, seen from the primary: it forks them (Node's cluster
 * shares each listener), pushes every routing snapshot to them, takes their passive signals to
 * the control loop, replaces a worker that dies, and sums their reports for the admin API.
 * Their metrics are read at scrape time through prom-client's AggregatorRegistry.
 */
export class WorkerPool implements DataPlaneHandle {
  readonly addresses: Record<string, AddressInfo> = {};
  private readonly workers = new Map<number, WorkerState>();
  /** Requests in flight per server, summed over the workers' last reports. */
  private inFlightSums = new Map<ServerKey, number>();
  private readonly aggregator = new AggregatorRegistry();
  private readonly unsubscribe: () => void;
  private readonly unsubscribeTls: () => void;
  private stopping = false;
  private restarts = 0;
  private challenges: ChallengesMessage = { type: 'lb:acme-challenges', version: 0, http01: [], tlsAlpn01: [] };
  private readonly challengeWaiters = new Set<() => void>();
  /** rateLimit and inFlightReq buckets for lb as a whole; workers lease tokens from them. */
  private readonly limits = new LimitAuthority(
    (id, message) => {
      const worker = this.workers.get(id)?.worker;
      if (worker?.isConnected()) worker.send(message);
    },
    () => this.workers.size,
  );

  constructor(
    private config: LbConfig,
    private readonly control: ControlLoop,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** Certificates and session ticket keys, pushed to every worker (the same keys everywhere: a session resumes on any worker). */
    private readonly tls: TlsSource,
  ) {
    // The worker runs the CLI's `worker` command, from the build (dist/) or, under tsx, the sources.
    const cli = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../cli.ts' : '../cli.js', import.meta.url));
    // Workers accept connections themselves (the kernel spreads them), rather than the primary
    // accepting and handing each one over: measured 1.6x more new connections per second on 2
    // cores (docs/benchmarks.md). NODE_CLUSTER_SCHED_POLICY=rr still selects Node's default.
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: cli, args: ['worker'], serialization: 'advanced' });
    this.unsubscribe = control.subscribe((snapshot) => this.broadcast(this.snapshotMessage(snapshot)));
    this.unsubscribeTls = tls.subscribe((state) => this.broadcast(tlsMessage(state)));
  }

  /** Starts every worker; resolves when all of them listen, rejects (and stops them) when one cannot. */
  async start(): Promise<void> {
    try {
      const answers = await Promise.all(Array.from({ length: this.config.workers }, () => this.fork()));
      Object.assign(this.addresses, answers[0]);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    this.logger.info({ workers: this.config.workers }, 'data-plane workers listening');
  }

  async reload(next: LbConfig): Promise<void> {
    this.config = next;
    const answers = await Promise.all([...this.workers.values()].map((state) => this.ask(state, { type: 'lb:reload', config: next })));
    const failed = answers.find((answer) => answer.type === 'lb:reload-failed');
    if (failed?.type === 'lb:reload-failed') throw new WorkerStartError(failed.message);
    for (const name of Object.keys(this.addresses)) if (!next.entrypoints.has(name)) delete this.addresses[name];
  }

  /** Drains every worker (in-flight requests finish for up to `graceMs`), then waits for them to exit. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    this.unsubscribeTls();
    const exits = [...this.workers.values()].map(
      ({ worker }) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const timer = setTimeout(() => worker.kill('SIGKILL'), graceMs + 5_000);
          worker.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          worker.send({ type: 'lb:stop', graceMs });
        }),
    );
    await Promise.all(exits);
  }

  /** The primary's metrics, then the workers', summed (gauges that must not be summed say how in their definition). */
  async metricsText(): Promise<string> {
    return `${await this.metrics.registry.metrics()}\n${await this.aggregator.clusterMetrics()}`;
  }

  /** Sends the challenges to every worker; resolves when each has applied them (or after CHALLENGES_MS). */
  setChallenges(challenges: ChallengeSet): Promise<void> {
    const message: ChallengesMessage = { type: 'lb:acme-challenges', version: this.challenges.version + 1, ...challenges };
    this.challenges = message;
    for (const { worker } of this.workers.values()) if (worker.isConnected()) worker.send(message);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.challengeWaiters.delete(check);
        resolve();
      };
      const check = () => {
        if ([...this.workers.values()].every((state) => state.challenges >= message.version || state.worker.isDead())) done();
      };
      const timer = setTimeout(() => {
        this.logger.warn({ version: message.version }, 'ACME challenges did not reach every worker in time; going on');
        done();
      }, CHALLENGES_MS);
      this.challengeWaiters.add(check);
      check();
    });
  }

  inFlight(service: string, backend: Backend): number {
    return this.inFlightSums.get(serverKey(service, backend.origin)) ?? 0;
  }

  traffic(): TrafficStats {
    return sumTraffic([...this.workers.values()].flatMap(({ report }) => (report ? [report.traffic] : [])));
  }

  draining(): Array<{ service: string; backend: string }> {
    const seen = new Map<ServerKey, { service: string; backend: string }>();
    for (const { report } of this.workers.values()) for (const entry of report?.draining ?? []) seen.set(serverKey(entry.service, entry.backend), entry);
    return [...seen.values()];
  }

  private fork(): Promise<Record<string, AddressInfo>> {
    const worker = cluster.fork();
    const state: WorkerState = { worker, report: undefined, challenges: 0, pending: undefined };
    this.workers.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (isFromWorker(message)) this.onMessage(state, message);
    });
    worker.once('exit', (code, signal) => this.onExit(state, code, signal));
    return this.ask(state)
      .then((ready) => {
        if (ready.type !== 'lb:ready') throw new WorkerStartError(ready.type === 'lb:failed' ? ready.message : `unexpected answer ${ready.type}`);
        // The first snapshot and certificates before the listeners, so that the worker never serves without routes.
        worker.send(this.snapshotMessage(this.control.snapshot));
        worker.send(tlsMessage(this.tls.tls));
        // The challenges too, so that a replacement worker answers the validations in progress.
        if (this.challenges.version > 0) worker.send(this.challenges);
        return this.ask(state, { type: 'lb:start', config: this.config });
      })
      .then((answer) => {
        if (answer.type !== 'lb:listening') throw new WorkerStartError(answer.type === 'lb:failed' ? answer.message : `unexpected answer ${answer.type}`);
        return answer.addresses;
      });
  }

  /** Sends `message` (if any) and waits for the worker's next answer. */
  private ask(state: WorkerState, message?: { type: 'lb:start' | 'lb:reload'; config: LbConfig }): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new WorkerStartError(`worker ${state.worker.id} did not answer ${message?.type ?? 'at start'} within ${ANSWER_MS / 1000}s`)), ANSWER_MS);
      state.pending = (answer) => {
        clearTimeout(timer);
        state.pending = undefined;
        resolve(answer);
      };
      if (message) state.worker.send(message);
    });
  }

  private onMessage(state: WorkerState, message: FromWorker): void {
    switch (message.type) {
      case 'lb:outlier': {
        const backend = this.control.snapshot.services.get(message.service)?.backends.find((b) => b.origin === message.origin);
        if (backend) this.control.reportOutlier(message.service, backend);
        break;
      }
      case 'lb:report':
        state.report = message;
        this.sumInFlight();
        break;
      case 'lb:limit-take':
        this.limits.take(state.worker.id, message);
        break;
      case 'lb:limit-return':
        this.limits.giveBack(state.worker.id, message);
        break;
      case 'lb:acme-challenges-applied':
        state.challenges = Math.max(state.challenges, message.version);
        for (const check of this.challengeWaiters) check();
        break;
      default:
        state.pending?.(message);
    }
  }

  private sumInFlight(): void {
    const sums = new Map<ServerKey, number>();
    for (const { report } of this.workers.values()) {
      for (const [service, origin, count] of report?.inFlight ?? []) {
        const key = serverKey(service, origin);
        sums.set(key, (sums.get(key) ?? 0) + count);
      }
    }
    this.inFlightSums = sums;
  }

  private onExit(state: WorkerState, code: number | null, signal: string | null): void {
    this.workers.delete(state.worker.id);
    this.limits.workerGone(state.worker.id);
    // Its requests ended with it.
    this.sumInFlight();
    state.pending?.({ type: 'lb:failed', message: `worker exited (code ${code}, signal ${signal})` });
    if (this.stopping) return;
    // A worker that dies while serving is replaced; quickly at first, more slowly if it keeps dying.
    const delayMs = Math.min(10_000, 250 * 2 ** Math.min(this.restarts++, 6));
    this.metrics.workerExits.labels(signal ?? `exit code ${code}`).inc();
    this.logger.error({ worker: state.worker.id, code, signal, restartInMs: delayMs }, 'data-plane worker exited; starting a new one');
    setTimeout(() => {
      if (this.stopping) return;
      this.fork().then(
        () => this.logger.info('replacement worker listening'),
        (err: Error) => this.logger.error({ err: err.message }, 'replacement worker failed to start'),
      );
    }, delayMs).unref();
  }

  private broadcast(message: SnapshotMessage | ReturnType<typeof tlsMessage>): void {
    for (const { worker } of this.workers.values()) if (worker.isConnected()) worker.send(message);
  }

  private snapshotMessage(snapshot: RoutingSnapshot): SnapshotMessage {
    const states: SnapshotMessage['states'] = [];
    for (const service of snapshot.services.values()) {
      for (const backend of service.backends) states.push([service.name, backend.origin, this.control.isUsable(service.name, backend), this.control.healthOf(service.name, backend)?.known ?? false]);
    }
    const { routers, services, middlewares = new Map() } = this.control.dynamic;
    return { type: 'lb:snapshot', entrypoints: this.control.entrypointConfigs, routers, services, middlewares, states };
  }
}
