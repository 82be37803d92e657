import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { EntrypointConfig } from '../../config/types.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import type { DataPlaneContext } from '../context.js';
import { listenOn, stopServer } from '../listen.js';
import { rawErrorResponse, sendProxyError } from './error-response.js';
import { Exchange, requestHasBody, type ExchangeOutcome } from './exchange.js';
import { clientAddress, TrustedProxies, upstreamRequestHeaders } from './headers.js';
import { normaliseHost } from '../../control/route-table.js';
import { UpgradeRelay } from './upgrade.js';

/** Node's parser errors, mapped to what the client is told before its connection is closed. */
function clientErrorResponse(code: string | undefined): string {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return rawErrorResponse(431, 'the request head is larger than 16 KiB');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawErrorResponse(408, 'the request head did not arrive in time');
    default:
      return rawErrorResponse(400, `malformed or ambiguous request${code ? ` (${code})` : ''}`);
  }
}

/** An HTTP/1.1 entrypoint: parses with Node's strict llhttp, routes, relays through undici. */
export class HttpEntrypoint {
  readonly name: string;
  private readonly config: EntrypointConfig;
  private readonly context: DataPlaneContext;
  private readonly server: Server;
  private readonly trusted: TrustedProxies;
  private readonly upgrades: UpgradeRelay;

  constructor(config: EntrypointConfig, context: DataPlaneContext) {
    this.name = config.name;
    this.config = config;
    this.context = context;
    this.trusted = new TrustedProxies(config.trustedProxies);
    const headersMs = config.timeouts.requestHeadersMs;
    this.server = createServer({
      maxHeaderSize: 16 * 1024,
      headersTimeout: headersMs,
      // Uploads may legitimately take long; slow clients are bounded by the head timeout.
      requestTimeout: 0,
      keepAliveTimeout: config.timeouts.idleMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(headersMs / 4))),
      noDelay: true,
      requireHostHeader: true,
    });
    this.upgrades = new UpgradeRelay(this.name, context, this.trusted);
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrades.handle(req, socket as Socket, head, this.routeFor(req)));
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => undefined);
      socket.end(rawErrorResponse(405, 'CONNECT is not supported by this reverse proxy'));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      context.logger.debug({ entrypoint: this.name, code: err.code, err: err.message }, 'rejected malformed request');
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(clientErrorResponse(err.code));
    });
    const open = context.metrics.openConnections.labels(this.name, 'http');
    this.server.on('connection', (socket: Socket) => {
      open.inc();
      socket.once('close', () => open.dec());
    });
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.server, this.config.address, `entrypoint ${this.name}`);
  }

  async close(graceMs: number): Promise<void> {
    await stopServer(this.server, graceMs, () => this.upgrades.destroyAll());
  }

  private routeFor(req: IncomingMessage): HttpRoute | undefined {
    const routes = this.context.snapshot().entrypoints.get(this.name)?.routes;
    if (!routes) return undefined;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    return routes.lookup(normaliseHost(req.headers.host), query < 0 ? url : url.slice(0, query), req.headers);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const route = this.routeFor(req);
    if (!route) return this.reject(req, res, started, undefined, new ProxyError('no_route'));
    const pickContext = { clientIp: clientAddress(req), headers: req.headers };
    const service = route.service;
    const backend = service.balancer.pick(pickContext);
    if (!backend) return this.reject(req, res, started, route, new ProxyError('no_backend', `service ${service.name}`));

    const exchange = new Exchange(res, route, backend, service.balancer.affinityCookie?.(pickContext, backend), (outcome) =>
      this.record(req, started, outcome),
    );
    const headers = upstreamRequestHeaders(req, {
      clientIp: pickContext.clientIp,
      trusted: this.trusted.trusts(pickContext.clientIp),
      proto: 'http',
      port: req.socket.localPort ?? this.config.address.port,
      upgrade: false,
    });
    this.context.pools.get(backend, service).dispatch(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers,
        body: requestHasBody(req) ? req : null,
        headersTimeout: service.config.timeouts.responseHeadersMs,
        bodyTimeout: service.config.timeouts.idleMs,
      },
      exchange,
    );
  }

  private reject(req: IncomingMessage, res: ServerResponse, started: number, route: HttpRoute | undefined, error: ProxyError): void {
    sendProxyError(res, error);
    const service = route?.service.name ?? '';
    this.context.metrics.observeRequest(this.name, route?.router ?? '', service, req.method ?? '', error.status, (performance.now() - started) / 1000);
    if (error.kind === 'no_backend') {
      this.context.metrics.observeError(service, error.kind);
      this.context.logger.warn({ entrypoint: this.name, router: route?.router, service, code: error.code }, error.message);
    }
  }

  private record(req: IncomingMessage, started: number, outcome: ExchangeOutcome): void {
    const { route, backend, status, error } = outcome;
    const service = route.service.name;
    this.context.metrics.observeRequest(this.name, route.router, service, req.method ?? '', status, (performance.now() - started) / 1000);
    if (!error) return;
    this.context.metrics.observeError(service, error.kind);
    const fields = { entrypoint: this.name, router: route.router, service, backend: backend.id, code: error.code, method: req.method };
    if (error.kind === 'client_abort') this.context.logger.debug(fields, error.message);
    else this.context.logger.warn(fields, error.message);
  }
}
