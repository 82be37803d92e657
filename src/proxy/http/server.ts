import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { EntrypointConfig } from '../../config/types.js';
import type { Backend, PickContext } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import type { AccessEntry } from '../../metrics/access-log.js';
import { recordPassive, type DataPlaneContext } from '../context.js';
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

const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** One client request across its attempts. */
interface Attempt {
  req: IncomingMessage;
  res: ServerResponse;
  started: number;
  route: HttpRoute;
  pick: PickContext;
  retries: number;
  /** The request itself (streamed), a buffered copy (replayable), or null (no body). */
  body: IncomingMessage | Buffer | null;
  headers?: string[];
  /** The last attempt went out on a connection of its own (see unsafeOnNewConnection). */
  fresh?: boolean;
  /** Already held once for an empty pool (emptyPoolWait). */
  waited?: boolean;
}

/**
 * Whether a failed attempt may go to another server: always when the connection was never
 * established; for idempotent methods also when it broke before any response byte. Never when
 * a streamed body has already been read.
 */
function isRetryable(error: ProxyError, attempt: Attempt): boolean {
  const body = attempt.body;
  if (body !== null && !Buffer.isBuffer(body) && body.readableDidRead) return false;
  const cause = (error.cause as { code?: string } | undefined)?.code;
  if (error.kind === 'connect_refused' || cause === 'UND_ERR_CONNECT_TIMEOUT') return true;
  // A reset (RST) on a connection opened for this request alone means the server never consumed
  // the request: typically it was still in the accept queue when the server closed its listener.
  if (attempt.fresh && cause === 'ECONNRESET') return true;
  return (error.kind === 'reset' || error.kind === 'timeout') && idempotent.has(attempt.req.method ?? '');
}

function accessEntry(req: IncomingMessage, status: number, seconds: number, route: HttpRoute | undefined, backend: Backend | undefined, retries: number, bytesIn: number, bytesOut: number, error: ProxyError | undefined): AccessEntry {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return {
    client: clientAddress(req),
    method: req.method ?? '',
    host: req.headers.host ?? '',
    path: query < 0 ? url : url.slice(0, query),
    status,
    bytesIn,
    bytesOut,
    durationMs: Math.round(seconds * 1e6) / 1000,
    router: route?.router ?? '',
    service: route?.service.name ?? '',
    backend: backend?.id ?? '',
    retries,
    error: error?.kind,
  };
}

/** An HTTP/1.1 entrypoint: parses with Node's strict llhttp, routes, relays through undici. */
export class HttpEntrypoint {
  readonly name: string;
  private config: EntrypointConfig;
  private readonly context: DataPlaneContext;
  private readonly server: Server;
  private trusted: TrustedProxies;
  private readonly upgrades: UpgradeRelay;
  private readonly shutdown = { closing: false };

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
    this.upgrades = new UpgradeRelay(this.name, context, () => this.trusted);
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

  /** New settings for the same listener (a reload): timeouts and trusted proxies, in place. */
  update(config: EntrypointConfig): void {
    this.config = config;
    this.trusted = new TrustedProxies(config.trustedProxies);
    this.server.headersTimeout = config.timeouts.requestHeadersMs;
    this.server.keepAliveTimeout = config.timeouts.idleMs;
  }

  async close(graceMs: number): Promise<void> {
    this.shutdown.closing = true;
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
    const clientIp = clientAddress(req);
    const attempt: Attempt = { req, res, started, route, pick: { clientIp, headers: req.headers }, retries: 0, body: requestHasBody(req) ? req : null };
    this.context.retryBudgets.for(route.service).onRequest();
    const retry = route.service.config.retry;
    const length = Number(req.headers['content-length']);
    if (attempt.body && retry.attempts > 0 && length > 0 && length <= retry.bufferBodyBytes) {
      // Small bodies are read first, so that a retry can send them again.
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.once('end', () => {
        attempt.body = Buffer.concat(chunks);
        this.dispatch(attempt);
      });
      return;
    }
    this.dispatch(attempt);
  }

  private dispatch(attempt: Attempt, exclude?: Backend): void {
    const { req, res, route } = attempt;
    const service = route.service;
    const backend = service.balancer.pick(attempt.pick, exclude);
    if (!backend) {
      if (!attempt.waited && attempt.retries === 0 && service.config.emptyPoolWaitMs > 0) return void this.awaitServer(attempt);
      return this.reject(req, res, attempt.started, route, new ProxyError('no_backend', `service ${service.name}`));
    }
    const exchange = new Exchange(res, route, backend, service.balancer.affinityCookie?.(attempt.pick, backend), {
      shutdown: this.shutdown,
      done: (outcome) => this.record(attempt, outcome),
      retry: (error, failed) => this.retry(attempt, error, failed),
    });
    const fresh = service.config.retry.unsafeOnNewConnection && !idempotent.has(req.method ?? '');
    attempt.fresh = fresh;
    this.context.pools.get(backend, service, fresh).dispatch(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        reset: fresh,
        headers: (attempt.headers ??= upstreamRequestHeaders(req, {
          clientIp: attempt.pick.clientIp,
          trusted: this.trusted.trusts(attempt.pick.clientIp),
          proto: 'http',
          port: req.socket.localPort ?? this.config.address.port,
          upgrade: false,
        })),
        body: attempt.body,
        headersTimeout: service.config.timeouts.responseHeadersMs,
        bodyTimeout: service.config.timeouts.idleMs,
      },
      exchange,
    );
  }

  /** Deploy grace: hold a request for an empty pool until a server appears or emptyPoolWait ends. */
  private async awaitServer(attempt: Attempt): Promise<void> {
    const deadline = attempt.started + attempt.route.service.config.emptyPoolWaitMs;
    while (performance.now() < deadline && !attempt.res.destroyed) {
      await this.context.signals.nextSnapshot(deadline - performance.now());
      const route = this.routeFor(attempt.req);
      if (route && route.service.members.length > 0) {
        attempt.route = route;
        attempt.waited = true;
        return this.dispatch(attempt);
      }
    }
    if (!attempt.res.destroyed) this.reject(attempt.req, attempt.res, attempt.started, attempt.route, new ProxyError('no_backend', `service ${attempt.route.service.name}, after waiting ${attempt.route.service.config.emptyPoolWaitMs}ms`));
  }

  /** Called when a backend failed before any response byte; true when another server got the request. */
  private retry(attempt: Attempt, error: ProxyError, failed: Backend): boolean {
    const service = attempt.route.service;
    if (error.kind !== 'bad_response') recordPassive(this.context.signals, service, failed, true);
    if (attempt.retries >= service.config.retry.attempts || attempt.res.destroyed) return false;
    if (!isRetryable(error, attempt)) return false;
    if (!service.balancer.pick(attempt.pick, failed)) return false;
    if (!this.context.retryBudgets.for(service).tryRetry()) return false;
    attempt.retries++;
    this.context.metrics.retries.labels(service.name, error.kind).inc();
    this.context.logger.debug({ service: service.name, backend: failed.id, code: error.code }, 'retrying on another server');
    this.dispatch(attempt, failed);
    return true;
  }

  private reject(req: IncomingMessage, res: ServerResponse, started: number, route: HttpRoute | undefined, error: ProxyError): void {
    sendProxyError(res, error);
    const service = route?.service.name ?? '';
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route?.router ?? '', service, req.method ?? '', error.status, seconds);
    if (error.kind === 'no_backend') {
      this.context.metrics.observeError(service, error.kind);
      this.context.logger.warn({ entrypoint: this.name, router: route?.router, service, code: error.code }, error.message);
    }
    this.context.accessLog?.write(accessEntry(req, error.status, seconds, route, undefined, 0, 0, 0, error));
  }

  private record(attempt: Attempt, outcome: ExchangeOutcome): void {
    const { req, started } = attempt;
    const { route, backend, status, error, bytesIn, bytesOut } = outcome;
    const service = route.service.name;
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route.router, service, req.method ?? '', status, seconds, bytesIn, bytesOut);
    this.context.accessLog?.write(accessEntry(req, status, seconds, route, backend, attempt.retries, bytesIn, bytesOut, error));
    // Failures before the response head were counted when they happened (see retry()).
    if (!error) recordPassive(this.context.signals, route.service, backend, status >= 502 && status <= 504);
    if (!error) return;
    this.context.metrics.observeError(service, error.kind);
    const fields = { entrypoint: this.name, router: route.router, service, backend: backend.id, code: error.code, method: req.method };
    if (error.kind === 'client_abort') this.context.logger.debug(fields, error.message);
    else this.context.logger.warn(fields, error.message);
  }
}
