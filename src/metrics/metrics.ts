import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { ServerKey } from '../balancer/backend.js';
import type { ProxyErrorKind } from '../errors.js';
import { CellCounter, CellGauge, CellHistogram, type CounterCell, type HistogramCell } from './cells.js';
import { latencyBucket, TrafficCounter, type ServerTraffic } from './traffic.js';

const standardMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** Method → a small number for series keys (0: OTHER). */
const methodIndex = new Map([...standardMethods].map((method, i) => [method, i + 1]));

function child<K, V>(map: Map<K, Map<string, V>>, key: K): Map<string, V>;
function child<K, V>(map: Map<K, Map<number, V>>, key: K): Map<number, V>;
function child<K, V>(map: Map<K, Map<unknown, V>>, key: K): Map<unknown, V> {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map()));
  return inner;
}

/** Keeps label cardinality bounded: an unknown verb is `OTHER`, never the raw client value. */
export function methodLabel(method: string | undefined): string {
  return method && standardMethods.has(method) ? method : 'OTHER';
}

/** A service as the metrics see it at scrape time. */
export interface PoolView {
  name: string;
  panic: boolean;
  backends: ReadonlyArray<{ id: string; inFlight: number; up: boolean }>;
}

interface RequestSeries {
  requests: CounterCell;
  duration: HistogramCell;
  bytesIn: CounterCell;
  bytesOut: CounterCell;
  totals: TrafficCounter;
}

export const prometheusContentType = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Where a Metrics registry lives: `all` in a single process; with data-plane workers, `control` in
 * the primary (health, Docker, config, pool state) and `data` in each worker (requests,
 * connections, in-flight), which the primary sums with prom-client's AggregatorRegistry.
 */
export type MetricsRole = 'all' | 'control' | 'data';

/** The families the control plane owns; every other family (and Node's own) belongs to the data plane. */
const controlFamilies = ['lb_backend_up', 'lb_service_panic', 'lb_health_checks_total', 'lb_backend_ejections_total', 'lb_snapshot_build_duration_seconds', 'lb_router_shadowed', 'lb_docker_connected', 'lb_docker_last_sync_timestamp_seconds', 'lb_docker_label_errors_total', 'lb_docker_events_total', 'lb_swarm_connected', 'lb_swarm_last_sync_timestamp_seconds', 'lb_swarm_label_errors_total', 'lb_swarm_events_total', 'lb_config_reloads_total', 'lb_config_last_reload_success_timestamp_seconds', 'lb_acme_orders_total', 'lb_tls_certificate_expiry_timestamp_seconds', 'lb_worker_exits_total'];

/** A certificate as the expiry gauge sees it. */
export interface CertificateView {
  name: string;
  source: string;
  notAfter: number;
}

/**
 * Every metric lb exports (docs/metrics.md). The figures counted per request live in cells
 * (cells.ts) found through nested maps, so the hot path builds no label string.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new CellCounter(
    'lb_http_requests_total',
    'HTTP requests answered, by entrypoint, router, service, method and status code.',
    ['entrypoint', 'router', 'service', 'method', 'code'],
    this.registry,
  );
  readonly httpDuration = new CellHistogram(
    'lb_http_request_duration_seconds',
    'Time from the request head to the end of the response, by entrypoint and service.',
    ['entrypoint', 'service'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );
  readonly httpErrors = new Counter({
    name: 'lb_http_errors_total',
    help: 'Requests that failed in the proxy, by service and kind of failure.',
    labelNames: ['service', 'kind'] as const,
    registers: [this.registry],
  });
  readonly openConnections = new CellGauge(
    'lb_entrypoint_open_connections',
    'Client connections currently open, by entrypoint and protocol.',
    ['entrypoint', 'protocol'],
    this.registry,
  );
  readonly connectionsRefused = new CellCounter(
    'lb_connections_refused_total',
    'Client connections closed at once because a limit was reached, by entrypoint and reason (max_connections, max_connections_per_ip, process_budget).',
    ['entrypoint', 'reason'],
    this.registry,
  );
  readonly tcpConnections = new CellCounter(
    'lb_tcp_connections_total',
    'TCP connections accepted and routed, by entrypoint and service.',
    ['entrypoint', 'service'],
    this.registry,
  );
  readonly tcpBytes = new CellCounter(
    'lb_tcp_bytes_total',
    'Bytes relayed by TCP entrypoints; direction is "in" (client to server) or "out".',
    ['entrypoint', 'service', 'direction'],
    this.registry,
  );
  readonly proxyProtocolRejected = new Counter({
    name: 'lb_proxy_protocol_rejected_total',
    help: 'Connections closed for their PROXY protocol header, by entrypoint and reason (untrusted_source, missing, malformed, truncated, timeout).',
    labelNames: ['entrypoint', 'reason'] as const,
    registers: [this.registry],
  });
  readonly tcpSniRejected = new Counter({
    name: 'lb_tcp_sni_rejected_total',
    help: 'Connections to a TCP entrypoint with sni routers closed before routing, by entrypoint and reason (timeout, closed, not_tls, malformed, no_sni, unknown_name).',
    labelNames: ['entrypoint', 'reason'] as const,
    registers: [this.registry],
  });
  readonly tlsHandshakes = new CellCounter(
    'lb_tls_handshakes_total',
    'TLS handshakes that lb terminates (https entrypoints, tcp routers with tls: terminate), by entrypoint, TLS version and result: success, or why the handshake failed.',
    ['entrypoint', 'version', 'result'],
    this.registry,
  );
  private certificatesSource: () => Iterable<CertificateView> = () => [];
  readonly certificateExpiry: Gauge<'name' | 'source'> = new Gauge({
    name: 'lb_tls_certificate_expiry_timestamp_seconds',
    help: 'Unix time at which each certificate served expires, by its first DNS name (else its file) and source.',
    labelNames: ['name', 'source'] as const,
    registers: [this.registry],
    collect: () => {
      this.certificateExpiry.reset();
      // Two certificates under one name (an RSA and an ECDSA one): the sooner expiry is the one to watch.
      const soonest = new Map<string, CertificateView>();
      for (const c of this.certificatesSource()) {
        const key = `${c.name}\0${c.source}`;
        const known = soonest.get(key);
        if (!known || c.notAfter < known.notAfter) soonest.set(key, c);
      }
      for (const c of soonest.values()) this.certificateExpiry.labels(c.name, c.source).set(Math.floor(c.notAfter / 1000));
    },
  });
  /** Read at scrape time from the live snapshot, so the hot path only bumps a counter. */
  private backendsSource: () => Iterable<PoolView> = () => [];
  private drainingSource: () => Iterable<{ service: string; backend: string }> = () => [];
  readonly backendInFlight = this.backendGauge('lb_backend_requests_in_flight', 'Requests or tunnels open to each backend server.', (b) => b.inFlight);
  readonly backendUp = this.backendGauge('lb_backend_up', '1 when a server passes its health checks and is not ejected, else 0.', (b) => (b.up ? 1 : 0));
  readonly servicePanic: Gauge<'service'> = new Gauge({
    name: 'lb_service_panic',
    help: '1 while too few servers of a service are healthy and traffic goes to all of them.',
    labelNames: ['service'] as const,
    registers: [this.registry],
    collect: () => {
      this.servicePanic.reset();
      for (const service of this.backendsSource()) this.servicePanic.labels(service.name).set(service.panic ? 1 : 0);
    },
  });
  readonly backendDraining: Gauge<'service' | 'backend'> = new Gauge({
    name: 'lb_backend_draining',
    help: '1 while a server removed from its pool still finishes in-flight requests.',
    labelNames: ['service', 'backend'] as const,
    // Across workers: draining in any of them, not a count.
    aggregator: 'max',
    registers: [this.registry],
    collect: () => {
      this.backendDraining.reset();
      for (const { service, backend } of this.drainingSource()) this.backendDraining.labels(service, backend).set(1);
    },
  });
  readonly healthChecks = new Counter({
    name: 'lb_health_checks_total',
    help: 'Active health checks, by service, backend and result (success or failure).',
    labelNames: ['service', 'backend', 'result'] as const,
    registers: [this.registry],
  });
  readonly backendEjections = new Counter({
    name: 'lb_backend_ejections_total',
    help: 'Times a server was ejected after consecutive gateway failures.',
    labelNames: ['service', 'backend'] as const,
    registers: [this.registry],
  });
  /**
   * The servers that have series of their own in the two counters above. A server that leaves
   * every pool takes its series with it (forgetServersExcept), so that containers that come and go
   * do not grow /metrics, and lb's memory, without bound.
   */
  private readonly serverSeries = new Map<ServerKey, readonly [service: string, backend: string]>();

  /** `server`: the server's key in the control loop's health state, which forgetServersExcept is given. */
  countHealthCheck(server: ServerKey, service: string, backend: string, ok: boolean): void {
    this.healthChecks.labels(service, backend, ok ? 'success' : 'failure').inc();
    this.serverSeries.set(server, [service, backend]);
  }

  countEjection(server: ServerKey, service: string, backend: string): void {
    this.backendEjections.labels(service, backend).inc();
    this.serverSeries.set(server, [service, backend]);
  }

  /** Removes the series of the servers whose keys are not in `live`. */
  forgetServersExcept(live: ReadonlySet<ServerKey>): void {
    for (const [key, [service, backend]] of this.serverSeries) {
      if (live.has(key)) continue;
      this.serverSeries.delete(key);
      this.healthChecks.remove(service, backend, 'success');
      this.healthChecks.remove(service, backend, 'failure');
      this.backendEjections.remove(service, backend);
    }
  }

  readonly retries = new Counter({
    name: 'lb_retries_total',
    help: 'Requests retried on another server, by service and reason (the error kind).',
    labelNames: ['service', 'reason'] as const,
    registers: [this.registry],
  });
  readonly mirroredRequests = new Counter({
    name: 'lb_mirrored_requests_total',
    help: 'Copies of requests for the mirrors of mirroring services, by what became of them.',
    labelNames: ['service', 'mirror', 'result'] as const,
    registers: [this.registry],
  });
  readonly snapshotBuildDuration = new Histogram({
    name: 'lb_snapshot_build_duration_seconds',
    help: 'Time to build a routing snapshot from the providers.',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });

  readonly routerShadowed = new Gauge({
    name: 'lb_router_shadowed',
    help: '1 for each router that can never win: another on its entrypoint has the same match and priority (see conflicts in /api/state).',
    labelNames: ['entrypoint', 'router'] as const,
    registers: [this.registry],
  });

  /** What every engine provider reports: whether it follows its engine, when it last read it, its label errors. */
  private engineMetrics(provider: 'docker' | 'swarm', help: { connected: string; lastSync: string; labelErrors: string }) {
    return {
      connected: new Gauge({ name: `lb_${provider}_connected`, help: help.connected, registers: [this.registry] }),
      lastSync: new Gauge({ name: `lb_${provider}_last_sync_timestamp_seconds`, help: help.lastSync, registers: [this.registry] }),
      labelErrors: new Counter({ name: `lb_${provider}_label_errors_total`, help: help.labelErrors, registers: [this.registry] }),
    };
  }

  readonly docker = this.engineMetrics('docker', {
    connected: '1 while lb follows the Docker event stream, 0 while it is reconnecting.',
    lastSync: 'Unix time of the last full list-and-inspect of Docker containers.',
    labelErrors: 'Label errors found on containers (each counted once); the container is left out.',
  });
  readonly dockerEvents = new Counter({
    name: 'lb_docker_events_total',
    help: 'Docker events acted on, by action.',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  readonly swarm = this.engineMetrics('swarm', {
    connected: '1 while lb follows a swarm manager, 0 while it is reconnecting.',
    lastSync: 'Unix time of the last read of services, tasks and nodes from the swarm manager.',
    labelErrors: 'Label errors found on swarm services (each counted once); the service is left out.',
  });
  readonly swarmEvents = new Counter({
    name: 'lb_swarm_events_total',
    help: 'Events from the swarm manager that started a refresh, by type and action.',
    labelNames: ['type', 'action'] as const,
    registers: [this.registry],
  });

  readonly requestBytes = new CellCounter(
    'lb_http_request_bytes_total',
    'Request body bytes received from clients and sent on, by entrypoint and service.',
    ['entrypoint', 'service'],
    this.registry,
  );
  readonly responseBytes = new CellCounter(
    'lb_http_response_bytes_total',
    'Response body bytes relayed to clients, by entrypoint and service.',
    ['entrypoint', 'service'],
    this.registry,
  );
  readonly workerExits = new Counter({
    name: 'lb_worker_exits_total',
    help: 'Data-plane workers (workers: N) that exited while lb was serving, each replaced, by how they ended (a signal such as SIGKILL, or exit code N).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'lb_config_reloads_total',
    help: 'Configuration loads, by result (success or error); the first load at start-up counts.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly configLastSuccess = new Gauge({
    name: 'lb_config_last_reload_success_timestamp_seconds',
    help: 'Unix time of the last configuration load that succeeded.',
    registers: [this.registry],
  });

  readonly acmeOrders = new Counter({
    name: 'lb_acme_orders_total',
    help: 'Certificate orders to an ACME server, by resolver and result (success or failure).',
    labelNames: ['resolver', 'result'] as const,
    registers: [this.registry],
  });
  /** Each source of certificates (ACME, files) says what it holds; read at scrape time. */
  /** entrypoint → router → service → method and status → series */
  private readonly requestSeries = new Map<string, Map<string, Map<string, Map<number, RequestSeries>>>>();
  /** Per service, for the dashboard (traffic.ts). */
  readonly serviceTraffic = new Map<string, TrafficCounter>();

  constructor(readonly role: MetricsRole = 'all') {
    if (role === 'control') {
      for (const name of this.registry.getMetricsAsArray().map((m) => m.name)) if (!controlFamilies.includes(name)) this.registry.removeSingleMetric(name);
    } else if (role === 'data') {
      for (const name of controlFamilies) this.registry.removeSingleMetric(name);
    }
    // With workers, each worker reports its own process; the primary's are told apart by a prefix.
    const prefix = role === 'control' ? 'lb_primary_' : '';
    collectDefaultMetrics({ register: this.registry, prefix });
    // prom-client exports these gauges with a `_total` suffix, which Prometheus reserves for
    // counters (promtool check metrics rejects them); the handle and request counts they carry
    // are of little use for a proxy, so they are dropped rather than renamed.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(prefix + name);
    // Summed across workers, a per-process limit would read N times too high.
    const maxFds = this.registry.getSingleMetric(`${prefix}process_max_fds`) as (Metric & { aggregator: string }) | undefined;
    if (maxFds) maxFds.aggregator = 'max';
  }

  /** A {service, backend} gauge whose values are read from the live pools at scrape time. */
  private backendGauge(name: string, help: string, read: (backend: PoolView['backends'][number]) => number): Gauge<'service' | 'backend'> {
    const gauge: Gauge<'service' | 'backend'> = new Gauge({
      name,
      help,
      labelNames: ['service', 'backend'] as const,
      registers: [this.registry],
      collect: () => {
        gauge.reset();
        for (const service of this.backendsSource()) {
          for (const backend of service.backends) gauge.labels(service.name, backend.id).set(read(backend));
        }
      },
    });
    return gauge;
  }

  watchCertificates(source: () => Iterable<CertificateView>): void {
    this.certificatesSource = source;
  }

  watchBackends(source: () => Iterable<PoolView>, draining: () => Iterable<{ service: string; backend: string }>): void {
    this.backendsSource = source;
    this.drainingSource = draining;
  }

  /** `server`: the traffic counts of the server that answered, for the dashboard (none when lb answered itself). */
  observeRequest(entrypoint: string, router: string, service: string, method: string, status: number, seconds: number, bytesIn = 0, bytesOut = 0, server?: ServerTraffic): void {
    // Nested maps keyed by the config's own strings (their hashes are cached) and a number for
    // method and status: no key string is built per request.
    const bySeries = child(child(child(this.requestSeries, entrypoint), router), service);
    const key = (methodIndex.get(method) ?? 0) * 1000 + status;
    let series = bySeries.get(key);
    if (!series) {
      const totals = this.trafficOf(service);
      const flow = { entrypoint, service };
      series = {
        requests: this.httpRequests.cell({ entrypoint, router, service, method: methodLabel(method), code: String(status) }),
        duration: this.httpDuration.cell(flow),
        bytesIn: this.requestBytes.cell(flow),
        bytesOut: this.responseBytes.cell(flow),
        totals,
      };
      bySeries.set(key, series);
    }
    series.requests.value++;
    series.duration.observe(seconds);
    series.bytesIn.value += bytesIn;
    series.bytesOut.value += bytesOut;
    const bucket = latencyBucket(seconds);
    series.totals.observe(status, bucket);
    server?.observe(status, bucket);
  }

  /** A TCP connection relayed to a server of `service` (the dashboard counts it as a request without status). */
  observeTcpConnection(service: string): void {
    this.trafficOf(service).observe(0, 0);
  }

  private trafficOf(service: string): TrafficCounter {
    let totals = this.serviceTraffic.get(service);
    if (!totals) this.serviceTraffic.set(service, (totals = new TrafficCounter()));
    return totals;
  }

  observeError(service: string, kind: ProxyErrorKind): void {
    this.httpErrors.labels(service, kind).inc();
  }
}
