import type { Backend } from '../balancer/index.js';
import type { ProxyError } from '../errors.js';
import type { RoutingSnapshot, ServicePool } from '../control/snapshot.js';
import type { Logger } from '../log.js';
import type { AccessLog } from '../metrics/access-log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TlsSource } from '../tls/state.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { UpstreamPools } from './http/upstream-pools.js';
import type { RetryBudgets } from './http/retry-budget.js';
import type { AcmeChallenges } from '../tls/acme/challenges.js';

/** What the data plane may tell the control loop. */
export interface ControlSignals {
  /** A server failed `consecutiveFailures` times in a row. */
  reportOutlier(service: string, backend: Backend): void;
  /** Resolves with the next snapshot, or undefined after `timeoutMs`. */
  nextSnapshot(timeoutMs: number): Promise<RoutingSnapshot | undefined>;
}

/** What every entrypoint shares: the current snapshot, metrics, logs and backend pools. */
export interface DataPlaneContext {
  snapshot(): RoutingSnapshot;
  /** Client connections open in this process, against the entrypoints' limits and the process budget. */
  connectionLimits: ConnectionLimits;
  metrics: Metrics;
  logger: Logger;
  pools: UpstreamPools;
  signals: ControlSignals;
  retryBudgets: RetryBudgets;
  /** Undefined unless access logs are on. */
  accessLog: AccessLog | undefined;
  /** Pending ACME challenges; undefined unless lb.yaml has ACME resolvers, so that plain HTTP never looks. */
  acmeChallenges: AcmeChallenges | undefined;
  /** Certificates and session ticket keys of the https entrypoints. */
  tls: TlsSource;
  /** The port an entrypoint of this process listens on (0 before it listens): redirects to an entrypoint on port 0. */
  portOf(entrypoint: string): number;
}

/**
 * Whether a failure says something of the server's health: not a malformed answer (lb is
 * stricter than most clients), a client that went away, or one that stalled its upload.
 */
export function reflectsOnServer(error: ProxyError): boolean {
  return error.kind !== 'bad_response' && error.kind !== 'client_abort' && error.kind !== 'request_body_timeout' && error.kind !== 'response_read_timeout';
}

/** A server's answer that counts as a gateway failure (502–504), as its failure kind; undefined for the others. */
export function gatewayFailure(status: number): string | undefined {
  return status >= 502 && status <= 504 ? `status ${status}` : undefined;
}

/**
 * Passive outlier detection: counts gateway failures in a row per server, and tells the control
 * loop when a server reaches its service's threshold. The control loop decides whether to eject.
 * `failure`: what went wrong (an error kind, or a 502–504 status), undefined for a success.
 */
export function recordPassive(signals: ControlSignals, service: ServicePool, backend: Backend, failure: string | undefined): void {
  if (failure === undefined) {
    if (backend.consecutiveFailures !== 0) backend.consecutiveFailures = 0;
    return;
  }
  backend.traffic.fail(failure);
  if (++backend.consecutiveFailures >= service.config.outlierDetection.consecutiveFailures) {
    backend.consecutiveFailures = 0;
    signals.reportOutlier(service.name, backend);
  }
}
