import type { RoutingSnapshot } from '../control/snapshot.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { UpstreamPools } from './http/upstream-pools.js';

/** What every entrypoint shares: the current snapshot, metrics, logs and backend pools. */
export interface DataPlaneContext {
  snapshot(): RoutingSnapshot;
  metrics: Metrics;
  logger: Logger;
  pools: UpstreamPools;
}
