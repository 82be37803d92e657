import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/types.js';
import type { Backend } from '../balancer/index.js';
import type { RoutingSnapshot } from '../control/snapshot.js';
import type { Logger } from '../log.js';
import { prometheusContentType } from '../metrics/metrics.js';
import { latencyBaseSeconds, type TrafficStats } from '../metrics/traffic.js';
import { listenOn, stopServer } from '../proxy/listen.js';
import { dashboardPage } from './dashboard.js';

export interface ServerHealthView {
  healthy: boolean;
  ejectedUntil: string | null;
  lastCheck: { ok: boolean; detail: string; at: string } | null;
}

export interface AdminSources {
  snapshot(): RoutingSnapshot;
  /** What each dynamic provider knows (Docker: containers seen, and why each is or is not in a pool). */
  providers(): Record<string, unknown>;
  /** Health of one server: active state, ejection, last check. */
  serverHealth(service: string, backend: Backend): ServerHealthView;
  /** Servers removed from pools that still finish in-flight requests. */
  draining(): Array<{ service: string; backend: string }>;
  /** Requests or tunnels open to a server, across the data plane's processes. */
  inFlight(service: string, backend: Backend): number;
  /** Calls back on every new routing snapshot; returns a function that stops it. */
  onChange(listener: () => void): () => void;
  /** Where each entrypoint actually listens (it may differ from the config with port 0). */
  listening(): Record<string, string>;
  /** The Prometheus exposition: this process's metrics, and the data-plane workers' when there are any. */
  metricsText(): Promise<string>;
  /** Traffic so far per service, server and entrypoint, for the dashboard's rates and latencies. */
  traffic(): TrafficStats;
  /** ACME: each host's certificate state, and the routers that cannot have one; null without resolvers. */
  acme(): unknown;
  /** The certificates an https entrypoint serves, in order (the first is the default). */
  certificates?(entrypoint: string): Array<{ name: string; source: string; names: readonly string[]; notAfter: number }>;
  logger: Logger;
}

/**
 * The admin listener: the dashboard (/), /healthz, /metrics, /api/state, /api/events (SSE) and
 * /api/stats. Binds to loopback unless told otherwise; with `admin.token`, / and /api/* need it.
 */
export class AdminServer {
  private readonly server: Server;
  private readonly address: HostPort;
  private readonly sources: AdminSources;
  private token: Buffer | undefined;
  private readonly streams = new Set<ServerResponse>();
  private healthy = true;

  constructor(address: HostPort, sources: AdminSources, token?: string) {
    this.address = address;
    this.sources = sources;
    this.token = token === undefined ? undefined : Buffer.from(token);
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: Error) => {
        sources.logger.error({ err: err.message, path: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    });
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.server, this.address, 'the admin API');
  }

  setToken(token: string | undefined): void {
    this.token = token === undefined ? undefined : Buffer.from(token);
  }

  /** From now on /healthz answers 503, so that an upstream balancer stops sending traffic. */
  markShuttingDown(): void {
    this.healthy = false;
  }

  async close(): Promise<void> {
    for (const stream of this.streams) stream.end();
    await stopServer(this.server, 1000, () => this.server.closeAllConnections());
  }

  /** The bearer token, from the Authorization header or (for EventSource and links) `?token=`. */
  private authorised(req: IncomingMessage, url: URL): boolean {
    if (!this.token) return true;
    const header = req.headers.authorization;
    const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token') ?? '');
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  private state() {
    return { ...describeState(this.sources), providers: this.sources.providers(), acme: this.sources.acme() };
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    if ((path === '/' || path.startsWith('/api/')) && !this.authorised(req, url)) {
      res.setHeader('www-authenticate', 'Bearer realm="lb admin"');
      return send(res, 401, 'text/plain; charset=utf-8', 'unauthorised: send Authorization: Bearer <admin.token>, or ?token=<admin.token>\n');
    }
    switch (path) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', dashboardPage);
      case '/api/events':
        return this.stream(req, res);
      case '/api/stats':
        return send(res, 200, 'application/json', JSON.stringify({ time: Date.now(), latencyBaseSeconds, ...this.sources.traffic() }));
      case '/healthz':
        return this.healthy ? send(res, 200, 'text/plain; charset=utf-8', 'ok\n') : send(res, 503, 'text/plain; charset=utf-8', 'shutting down\n');
      case '/metrics':
        return send(res, 200, prometheusContentType, await this.sources.metricsText());
      case '/api/state':
        return send(res, 200, 'application/json', JSON.stringify(this.state(), null, 2));
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /healthz, /metrics, /api/state, /api/events or /api/stats\n');
    }
  }

  /** Server-sent events: the whole state at once, then again after each change (at most 4 a second). */
  private stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const push = () => res.write(`event: state\ndata: ${JSON.stringify(this.state())}\n\n`);
    push();
    let pending: NodeJS.Timeout | undefined;
    const unsubscribe = this.sources.onChange(() => {
      pending ??= setTimeout(() => {
        pending = undefined;
        push();
      }, 250);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    this.streams.add(res);
    req.socket.setTimeout(0);
    res.once('close', () => {
      unsubscribe();
      clearTimeout(pending);
      clearInterval(heartbeat);
      this.streams.delete(res);
    });
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function describeState(sources: Pick<AdminSources, 'snapshot' | 'listening' | 'serverHealth' | 'draining' | 'inFlight' | 'certificates'>) {
  const snapshot = sources.snapshot();
  const listening = sources.listening();
  const draining = sources.draining();
  return {
    version: snapshot.version,
    entrypoints: [...snapshot.entrypoints.values()].map(({ config }) => ({
      name: config.name,
      protocol: config.protocol,
      address: config.address.text,
      listening: listening[config.name] ?? null,
      ...(config.tls
        ? { tls: { certificates: (sources.certificates?.(config.name) ?? []).map((c) => ({ name: c.name, source: c.source, names: c.names, notAfter: new Date(c.notAfter).toISOString() })) } }
        : {}),
      ...(config.redirect ? { redirect: config.redirect } : {}),
    })),
    routers: [...snapshot.routers.values()].map((router) => ({
      name: router.name,
      entrypoint: router.entrypoint,
      service: router.service,
      priority: router.priority ?? null,
      middlewares: router.middlewares ?? [],
      match: { host: router.match.hosts, pathPrefix: router.match.pathPrefix ?? null, headers: Object.fromEntries(router.match.headers), sni: router.match.sni ?? null },
    })),
    conflicts: snapshot.shadowed.map((s) => ({ ...s, reason: `router "${s.router}" can never win: router "${s.by}" has the same entrypoint, match and priority` })),
    // Names and types only: settings may hold secrets (basicAuth users).
    middlewares: [...snapshot.middlewares].map(([name, { config }]) => ({ name, type: config.type })),
    missingMiddlewares: snapshot.missingMiddlewares.map((m) => ({ ...m, reason: `router "${m.router}" names middleware "${m.middleware}", which no provider defines: its requests get 500` })),
    services: [...snapshot.services.values()].map((service) => ({
      name: service.name,
      protocol: service.config.protocol,
      balancer: service.config.balancer,
      panic: service.panic,
      servers: service.backends.map((backend) => {
        const health = sources.serverHealth(service.name, backend);
        const state = backend.weight === 0 ? 'disabled' : health.ejectedUntil ? 'ejected' : health.healthy ? 'up' : 'down';
        return {
          backend: backend.id,
          url: backend.origin,
          weight: backend.weight,
          inFlight: sources.inFlight(service.name, backend),
          state,
          inRotation: service.members.includes(backend),
          ...health,
        };
      }),
      draining: draining.filter((d) => d.service === service.name).map((d) => d.backend),
    })),
  };
}
