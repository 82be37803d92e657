import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { EntrypointConfig, UnsafeReuse } from '../../config/types.js';
import type { Backend, PickContext } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import { ProxyError } from '../../errors.js';
import type { AccessEntry } from '../../metrics/access-log.js';
import { recordPassive, type DataPlaneContext } from '../context.js';
import { listenOn, stopServer } from '../listen.js';
import type { StreamedBody } from '../http1/upstream-connection.js';
import { CONNECT_TIMEOUT } from '../http1/upstream-connection.js';
import { idempotentMethods, type ClientExchange, type ClientRequest, type ExchangeOutcome } from './client.js';
import { ClientConnection } from './client-connection.js';
import { rawErrorResponse } from './error-response.js';
import { markServed, NodeClient } from './exchange.js';
import { TrustedProxies, type ForwardingFacts } from './headers.js';
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


/** One client request across its attempts. */
interface Attempt {
  client: ClientExchange;
  started: number;
  route: HttpRoute;
  pick: PickContext;
  retries: number;
  /** The body as it streams in, a buffered copy (replayable), or null (no body). */
  body: StreamedBody | Buffer[] | null;
  /** The request head for the backend, made once for all attempts. */
  head?: Buffer;
  /** Already held once for an empty pool (emptyPoolWait). */
  waited?: boolean;
}

/**
 * Whether a failed attempt may go to another server: always when the connection was never
 * established or the server reset it unread; for idempotent methods also when it broke before any
 * response byte. Never when a streamed body has already been read.
 */
function isRetryable(error: ProxyError, attempt: Attempt): boolean {
  const body = attempt.body;
  if (body !== null && !Array.isArray(body) && body.started) return false;
  const cause = (error.cause as { code?: string } | undefined)?.code;
  if (error.kind === 'connect_refused' || cause === CONNECT_TIMEOUT) return true;
  // A reset (RST) before any response byte means the server never read the request: Linux sends
  // RST, not FIN, when a socket is closed with unread data. That is the race of a server closing
  // an idle keep-alive connection (or its accept queue, on a new one) as the request arrives, and
  // it is safe to retry whatever the method.
  if (cause === 'ECONNRESET' && !error.responseStarted) return true;
  return (error.kind === 'reset' || error.kind === 'timeout') && idempotentMethods.has(attempt.client.method);
}

/** Whether a request goes on a connection of its own rather than an idle pooled one (UnsafeReuse). */
function opensOwnConnection(client: ClientExchange, reuse: UnsafeReuse): boolean {
  if (reuse === 'always' || idempotentMethods.has(client.method)) return false;
  return reuse === 'never' || client.firstOnConnection;
}

function accessEntry(req: ClientRequest, status: number, seconds: number, route: HttpRoute | undefined, backend: Backend | undefined, retries: number, bytesIn: number, bytesOut: number, error: ProxyError | undefined): AccessEntry {
  const url = req.url;
  const query = url.indexOf('?');
  return {
    client: req.clientIp,
    method: req.method,
    host: req.host,
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

/**
 * An HTTP/1.1 entrypoint. Connections start on the fast path (ClientConnection: lb's strict
 * parser on the raw socket); a request it does not accept, and upgrades, go with their connection
 * to Node's http server (llhttp), which answers malformed requests with 400/431/408. Both paths
 * share routing, retries, metrics and logs here, and the upstream pools.
 */
export class HttpEntrypoint {
  readonly name: string;
  private config: EntrypointConfig;
  private readonly context: DataPlaneContext;
  private readonly server: Server;
  private trusted: TrustedProxies;
  private readonly upgrades: UpgradeRelay;
  readonly shutdown = { closing: false };
  /** The port this entrypoint listens on: every connection's local port (getsockname spared). */
  localPort = 0;
  private readonly connections = new Set<ClientConnection>();
  private readonly nodeConnectionListeners: Array<(socket: Socket) => void>;
  private sweep: NodeJS.Timeout | undefined;

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
      connectionsCheckingInterval: this.checkEveryMs(),
      noDelay: true,
      requireHostHeader: true,
    });
    this.upgrades = new UpgradeRelay(this.name, context, () => this.trusted);
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // Node emits 'request' before llhttp has finished checking the head (an unknown
      // Transfer-Encoding is refused just after): wait for the end of this parse, so that a
      // request refused there never reaches a backend.
      process.nextTick(() => {
        if (!req.socket.writableEnded && !res.destroyed) this.handle(new NodeClient(req, res));
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrades.handle(req, socket as Socket, head, this.routeFor(req.headers.host ?? '', req.url ?? '/', req.headers)));
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
    // Every connection starts on the fast path; Node's own connection handling (its parser,
    // timeouts and connection tracking) takes over the ones that are deferred.
    this.nodeConnectionListeners = this.server.listeners('connection') as Array<(socket: Socket) => void>;
    this.server.removeAllListeners('connection');
    const open = context.metrics.openConnections.cell({ entrypoint: this.name, protocol: 'http' });
    this.server.on('connection', (socket: Socket) => {
      open.value++;
      socket.once('close', () => open.value--);
      this.connections.add(new ClientConnection(socket, this));
    });
  }

  async listen(reusePort = false): Promise<AddressInfo> {
    this.sweep = setInterval(() => this.checkConnections(), this.checkEveryMs()).unref();
    const bound = await listenOn(this.server, this.config.address, `entrypoint ${this.name}`, reusePort);
    this.localPort = bound.port;
    return bound;
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
    this.closeIdleConnections();
    const idleSweep = setInterval(() => this.closeIdleConnections(), 50);
    try {
      await stopServer(this.server, graceMs, () => {
        this.upgrades.destroyAll();
        for (const connection of this.connections) connection.socket.destroy();
      });
    } finally {
      clearInterval(idleSweep);
      clearInterval(this.sweep);
    }
  }

  // ConnectionOwner: what the fast path's connections ask of their entrypoint.

  defer(socket: Socket, unparsed: Buffer | undefined, served: boolean): void {
    if (unparsed) socket.unshift(unparsed);
    if (served) markServed(socket);
    for (const listener of this.nodeConnectionListeners) listener.call(this.server, socket);
  }

  closed(connection: ClientConnection): void {
    this.connections.delete(connection);
  }

  private checkEveryMs(): number {
    return Math.min(1000, Math.max(50, Math.floor(this.config.timeouts.requestHeadersMs / 4)));
  }

  /** The fast path's timeouts: request heads that take too long (408), idle keep-alive connections. */
  private checkConnections(): void {
    const now = performance.now();
    const headCutoff = now - this.config.timeouts.requestHeadersMs;
    const idleCutoff = now - this.config.timeouts.idleMs;
    for (const connection of this.connections) {
      if (connection.headSince !== 0 && connection.headSince < headCutoff) connection.headTimedOut();
      else if (connection.idle && connection.idleSince < idleCutoff) connection.socket.destroy();
    }
  }

  private closeIdleConnections(): void {
    for (const connection of this.connections) if (connection.idle) connection.socket.end();
  }

  private routeFor(host: string, url: string, headers: ClientRequest['headers'] | (() => ClientRequest['headers'])): HttpRoute | undefined {
    const routes = this.context.snapshot().entrypoints.get(this.name)?.routes;
    if (!routes) return undefined;
    const query = url.indexOf('?');
    return routes.lookup(normaliseHost(host), query < 0 ? url : url.slice(0, query), headers);
  }

  handle(client: ClientExchange): void {
    const started = performance.now();
    const route = this.routeFor(client.host, client.url, () => client.headers);
    if (!route) return this.reject(client, started, undefined, new ProxyError('no_route'));
    // The client is its own pick context: its headers are only made if a balancer reads them.
    const attempt: Attempt = { client, started, route, pick: client, retries: 0, body: null };
    this.context.retryBudgets.for(route.service).onRequest();
    const retry = route.service.config.retry;
    const length = client.contentLength;
    if (length > 0 && retry.attempts > 0 && length <= retry.bufferBodyBytes) {
      // Small bodies are read first, so that a retry can send them again.
      client.readBody((body) => {
        attempt.body = body;
        this.dispatch(attempt);
      });
      return;
    }
    if (length !== 0) attempt.body = client.streamBody();
    this.dispatch(attempt);
  }

  private dispatch(attempt: Attempt, exclude?: Backend): void {
    const { client, route } = attempt;
    const service = route.service;
    const backend = service.balancer.pick(attempt.pick, exclude);
    if (!backend) {
      if (!attempt.waited && attempt.retries === 0 && service.config.emptyPoolWaitMs > 0) return void this.awaitServer(attempt);
      return this.reject(client, attempt.started, route, new ProxyError('no_backend', `service ${service.name}`));
    }
    const relay = client.relay(route, backend, service.balancer.affinityCookie?.(attempt.pick, backend), {
      shutdown: this.shutdown,
      done: (outcome) => this.record(attempt, outcome),
      retry: (error, failed) => this.retry(attempt, error, failed),
    });
    const fresh = opensOwnConnection(client, service.config.retry.unsafeReuse);
    this.context.pools.get(backend, service, fresh).dispatch(
      {
        method: client.method,
        reset: fresh,
        head: (attempt.head ??= client.upstreamHead(this.forwardingFacts(client), fresh)),
        body: attempt.body,
        headersTimeout: service.config.timeouts.responseHeadersMs,
        bodyTimeout: service.config.timeouts.idleMs,
        rawChunked: client.acceptsChunked,
      },
      relay,
    );
  }

  private forwardingFacts(client: ClientExchange): ForwardingFacts {
    return {
      clientIp: client.clientIp,
      trusted: this.trusted.trusts(client.clientIp),
      proto: 'http',
      port: client.localPort || this.config.address.port,
      upgrade: false,
    };
  }

  /** Deploy grace: hold a request for an empty pool until a server appears or emptyPoolWait ends. */
  private async awaitServer(attempt: Attempt): Promise<void> {
    const { client } = attempt;
    const deadline = attempt.started + attempt.route.service.config.emptyPoolWaitMs;
    while (performance.now() < deadline && !client.gone) {
      await this.context.signals.nextSnapshot(deadline - performance.now());
      const route = this.routeFor(client.host, client.url, () => client.headers);
      if (route && route.service.members.length > 0) {
        attempt.route = route;
        attempt.waited = true;
        return this.dispatch(attempt);
      }
    }
    if (!client.gone) this.reject(client, attempt.started, attempt.route, new ProxyError('no_backend', `service ${attempt.route.service.name}, after waiting ${attempt.route.service.config.emptyPoolWaitMs}ms`));
  }

  /** Called when a backend failed before any response byte; true when another server got the request. */
  private retry(attempt: Attempt, error: ProxyError, failed: Backend): boolean {
    const service = attempt.route.service;
    if (error.kind !== 'bad_response') recordPassive(this.context.signals, service, failed, true);
    if (attempt.retries >= service.config.retry.attempts || attempt.client.gone) return false;
    if (!isRetryable(error, attempt)) return false;
    if (!service.balancer.pick(attempt.pick, failed)) return false;
    if (!this.context.retryBudgets.for(service).tryRetry()) return false;
    attempt.retries++;
    this.context.metrics.retries.labels(service.name, error.kind).inc();
    this.context.logger.debug({ service: service.name, backend: failed.id, code: error.code }, 'retrying on another server');
    this.dispatch(attempt, failed);
    return true;
  }

  private reject(client: ClientExchange, started: number, route: HttpRoute | undefined, error: ProxyError): void {
    const service = route?.service.name ?? '';
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route?.router ?? '', service, client.method, error.status, seconds);
    if (error.kind === 'no_backend') {
      this.context.metrics.observeError(service, error.kind);
      this.context.logger.warn({ entrypoint: this.name, router: route?.router, service, code: error.code }, error.message);
    }
    this.context.accessLog?.write(accessEntry(client, error.status, seconds, route, undefined, 0, 0, 0, error));
    client.sendError(error);
  }

  private record(attempt: Attempt, outcome: ExchangeOutcome): void {
    const { client, started } = attempt;
    const { route, backend, status, error, bytesIn, bytesOut } = outcome;
    const service = route.service.name;
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route.router, service, client.method, status, seconds, bytesIn, bytesOut);
    this.context.accessLog?.write(accessEntry(client, status, seconds, route, backend, attempt.retries, bytesIn, bytesOut, error));
    // Failures before the response head were counted when they happened (see retry()).
    if (!error) recordPassive(this.context.signals, route.service, backend, status >= 502 && status <= 504);
    if (!error) return;
    this.context.metrics.observeError(service, error.kind);
    const fields = { entrypoint: this.name, router: route.router, service, backend: backend.id, code: error.code, method: client.method };
    if (error.kind === 'client_abort') this.context.logger.debug(fields, error.message);
    else this.context.logger.warn(fields, error.message);
  }
}
