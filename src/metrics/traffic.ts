// What the dashboard shows of traffic: per service and per server, requests, answers by status
// class, a latency histogram (for p50 and p99) and gateway failures; per entrypoint, the open
// connections. Counted on plain fields in the data plane (one add per figure per request),
// reported by each worker and summed by the primary, and read by the admin API's /api/stats.

/** Latency bucket i holds durations up to `latencyBaseSeconds × 2^i`: 0.25 ms to 8 s, then the rest. */
export const latencyBaseSeconds = 0.00025;
export const latencyBuckets = 17;

/** The bucket of a duration: one log2, not a scan of the bounds. */
export function latencyBucket(seconds: number): number {
  if (seconds <= latencyBaseSeconds) return 0;
  return Math.min(latencyBuckets - 1, Math.ceil(Math.log2(seconds / latencyBaseSeconds)));
}

/** Requests so far, as counts that only grow (the dashboard draws rates from their differences). */
export interface TrafficCounts {
  requests: number;
  /** Answers of status 500 and above (lb's own 502, 503 and 504 among them). */
  errors: number;
  /** Answers by status class: 1xx, 2xx, 3xx, 4xx, 5xx. */
  responses: number[];
  /** Requests by duration bucket (latencyBaseSeconds). */
  latency: number[];
}

/** A server's counts, with the failures that feed passive ejection. */
export interface ServerCounts extends TrafficCounts {
  /** Gateway failures so far: refused, timed out or reset, or a 502–504 from the server. */
  failures: number;
  /** Failures in a row now (a success resets it): ejection comes at outlierDetection.consecutiveFailures. */
  consecutiveFailures: number;
  lastFailure: { kind: string; at: number } | null;
}

export interface TrafficStats {
  services: Record<string, TrafficCounts>;
  /** service → backend id → counts */
  servers: Record<string, Record<string, ServerCounts>>;
  /** entrypoint → client connections open now */
  entrypoints: Record<string, number>;
}

export class TrafficCounter implements TrafficCounts {
  requests = 0;
  errors = 0;
  readonly responses = [0, 0, 0, 0, 0];
  readonly latency: number[] = new Array<number>(latencyBuckets).fill(0);

  /** One answered request, its duration as a latencyBucket(); a TCP connection has no status (0) and counts only as a request. */
  observe(status: number, bucket: number): void {
    this.requests++;
    if (status === 0) return;
    if (status >= 500) this.errors++;
    const statusClass = Math.floor(status / 100) - 1;
    if (statusClass >= 0 && statusClass < 5) this.responses[statusClass]!++;
    this.latency[bucket]!++;
  }
}

export class ServerTraffic extends TrafficCounter {
  failures = 0;
  lastFailure: { kind: string; at: number } | null = null;

  fail(kind: string): void {
    this.failures++;
    this.lastFailure = { kind, at: Date.now() };
  }
}

function emptyCounts(): TrafficCounts {
  return { requests: 0, errors: 0, responses: [0, 0, 0, 0, 0], latency: new Array<number>(latencyBuckets).fill(0) };
}

function emptyServerCounts(): ServerCounts {
  return { ...emptyCounts(), failures: 0, consecutiveFailures: 0, lastFailure: null };
}

function addCounts(into: TrafficCounts, from: TrafficCounts): void {
  into.requests += from.requests;
  into.errors += from.errors;
  from.responses.forEach((n, i) => (into.responses[i] = (into.responses[i] ?? 0) + n));
  from.latency.forEach((n, i) => (into.latency[i] = (into.latency[i] ?? 0) + n));
}

/** The sum of several processes' stats (the data-plane workers'). */
export function sumTraffic(parts: Iterable<TrafficStats>): TrafficStats {
  const sum: TrafficStats = { services: {}, servers: {}, entrypoints: {} };
  for (const part of parts) {
    for (const [service, counts] of Object.entries(part.services)) addCounts((sum.services[service] ??= emptyCounts()), counts);
    for (const [service, servers] of Object.entries(part.servers)) {
      const into = (sum.servers[service] ??= {});
      for (const [backend, counts] of Object.entries(servers)) {
        const entry = (into[backend] ??= emptyServerCounts());
        addCounts(entry, counts);
        entry.failures += counts.failures;
        entry.consecutiveFailures += counts.consecutiveFailures;
        if (counts.lastFailure && (!entry.lastFailure || counts.lastFailure.at > entry.lastFailure.at)) entry.lastFailure = counts.lastFailure;
      }
    }
    for (const [entrypoint, open] of Object.entries(part.entrypoints)) sum.entrypoints[entrypoint] = (sum.entrypoints[entrypoint] ?? 0) + open;
  }
  return sum;
}
