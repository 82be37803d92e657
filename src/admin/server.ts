import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/types.js';
import type { Backend } from '../balancer/index.js';
import type { RoutingSnapshot } from '../control/snapshot.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { listenOn, stopServer } from '../proxy/listen.js';

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
  /** Where each entrypoint actually listens (it may differ from the config with port 0). */
  listening(): Record<string, string>;
  metrics: Metrics;
  logger: Logger;
}

/** The admin listener: /healthz, /metrics and /api/state. Binds to loopback unless told otherwise. */
export class AdminServer {
  private readonly server: Server;
  private readonly address: HostPort;
  private readonly sources: AdminSources;
  private healthy = true;

  constructor(address: HostPort, sources: AdminSources) {
    this.address = address;
    this.sources = sources;
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

  /** From now on /healthz answers 503, so that an upstream balancer stops sending traffic. */
  markShuttingDown(): void {
    this.healthy = false;
  }

  async close(): Promise<void> {
    await stopServer(this.server, 1000, () => this.server.closeAllConnections());
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    switch (path) {
      case '/healthz':
        return this.healthy ? send(res, 200, 'text/plain; charset=utf-8', 'ok\n') : send(res, 503, 'text/plain; charset=utf-8', 'shutting down\n');
      case '/metrics': {
        const registry = this.sources.metrics.registry;
        return send(res, 200, registry.contentType, await registry.metrics());
      }
      case '/api/state':
        return send(res, 200, 'application/json', JSON.stringify({ ...describeState(this.sources), providers: this.sources.providers() }, null, 2));
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /metrics or /api/state\n');
    }
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function describeState(sources: Pick<AdminSources, 'snapshot' | 'listening' | 'serverHealth' | 'draining'>) {
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
    })),
    routers: [...snapshot.routers.values()].map((router) => ({
      name: router.name,
      entrypoint: router.entrypoint,
      service: router.service,
      priority: router.priority ?? null,
      match: { host: router.match.hosts, pathPrefix: router.match.pathPrefix ?? null, headers: Object.fromEntries(router.match.headers) },
    })),
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
          inFlight: backend.inFlight,
          state,
          inRotation: service.members.includes(backend),
          ...health,
        };
      }),
      draining: draining.filter((d) => d.service === service.name).map((d) => d.backend),
    })),
  };
}
