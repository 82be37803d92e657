import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { EntrypointConfig } from '../../config/types.js';
import type { Backend, PickContext } from '../../balancer/index.js';
import type { HttpRoute, ServicePool } from '../../control/snapshot.js';
import { chooseService, withCookies, type MirrorCopy } from '../../control/service-split.js';
import { ChainRequest, type BodyPace, type ChainClient, type ChainOutcome, type MiddlewareChain } from '../../middleware/chain.js';
import { MirroredBody, Mirrors } from './mirrors.js';
import { ProxyError, terminationOf } from '../../errors.js';
import { gatewayFailure, recordPassive, reflectsOnServer, type DataPlaneContext } from '../context.js';
import { listenOn, stopServer } from '../listen.js';
import { peerAddress, proxyHeaderAcceptor, type ProxyHeaderAcceptor } from '../accept-proxy.js';
import type { StreamedBody } from '../http1/upstream-connection.js';
import { accessEntry } from './access-entry.js';
import type { ClientExchange, ClientRequest, ExchangeOutcome } from './client.js';
import { ClientConnection } from './client-connection.js';
import { errorBody, rawErrorResponse, rawResponse, sendResponse } from './error-response.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import { MAX_REQUEST_FIELDS } from '../http1/syntax.js';
import { markServed, NodeClient } from './node-client.js';
import { TrustedProxies, type ForwardingFacts } from './headers.js';
import { normaliseHost } from '../../control/route-table.js';
import { connectionRule, isRetryable, type ConnectionRule } from './retry-policy.js';
import { UpgradeRelay } from './upgrade.js';
import { privateUpstream } from './private-upstreams.js';
import { TlsTerminator, tlsInfoOf as tlsInfoOfSocket, type TlsInfo } from '../../tls/terminator.js';
import type { TLSSocket } from 'node:tls';
import { Http2Sessions } from '../http2/sessions.js';
import { sniffPreface } from '../http2/preface.js';


/**
 * `https://host[:port]/path?query`: the redirect of a request on an http entrypoint to an https
 * one. The host is the request's without its port (an absolute-form target's own, when it has
 * one); port 443 is left out. Undefined when there is no usable host.
 */
export function redirectLocation(host: string, target: string, port: number): string | undefined {
  let path = target.startsWith('/') ? target : '/';
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      host = url.host;
      path = `${url.pathname}${url.search}`;
    } catch {
      return undefined;
    }
  }
  // Host without its port; an IPv6 literal keeps its brackets. Anything else is no host name.
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d*)?$/.exec(host.trim());
  if (!match) return undefined;
  return `https://${match[1]!.toLowerCase()}${port === 443 ? '' : `:${port}`}${path}`;
}

/** Node's parser errors, mapped to what the client is told before its connection is closed. */
function clientErrorResponse(code: string | undefined): Buffer {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return rawErrorResponse(431, 'the request head is larger than 16 KiB');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawErrorResponse(408, 'the request head did not arrive in time');
    default:
      return rawErrorResponse(400, `malformed or ambiguous request${code ? ` (${code})` : ''}`);
  }
}

/** A request in its router's middlewares, with what the entrypoint goes on with after them. */
class RoutedRequest extends ChainRequest<ClientExchange> {
  constructor(
    client: ClientExchange,
    readonly started: number,
    readonly route: HttpRoute,
    trusted: TrustedProxies,
    bodyPace: BodyPace,
  ) {
    super(client, trusted, bodyPace);
  }
}

function bodyPaceOf(config: EntrypointConfig): BodyPace {
  return { pauseMs: config.timeouts.requestBodyMs, minRate: config.minRequestBodyRate };
}

/** One client request, proxied: its route, and what its attempts (retries) share. */
interface ProxiedRequest {
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
  /** The request as the router's middlewares left it (undefined: the router has none). */
  middleware?: ChainRequest | undefined;
  /** Set-Cookie values of the sticky weighted services on the way to the route's service. */
  cookies: string[] | undefined;
  /** Copies to send once the request is on its way (mirroring services). */
  mirrors: readonly MirrorCopy[] | undefined;
}

/**
 * An HTTP/1.1 entrypoint, plain or over TLS (https: each raw connection goes to a TlsTerminator,
 * tls/terminator.ts, which hands the decrypted socket to the same code). Connections start on the
 * fast path (ClientConnection: lb's strict parser on the socket); a request it does not accept,
 * and upgrades, go with their connection to Node's http server (llhttp), which answers malformed
 * requests with 400/431/408. Both paths share routing, retries, metrics and logs here, and the
 * upstream pools.
 */
export class HttpEntrypoint {
  readonly name: string;
  private config: EntrypointConfig;
  private readonly context: DataPlaneContext;
  private readonly server: Server;
  private readonly tls: TlsTerminator | undefined;
  /** X-Forwarded-Proto, from the entrypoint. */
  private readonly proto: 'http' | 'https';
  /** Strict-Transport-Security (https with hsts), for Node's path and HTTP/2. */
  hsts: string | undefined;
  /** The same as a header line, added to every fast-path response; '' without HSTS. */
  responseHeaders = '';
  private trusted: TrustedProxies;
  /** The pace a body read whole by a middleware must keep (timeouts.requestBody, minRequestBodyRate). */
  private bodyPace: BodyPace;
  /** Set with `proxyProtocol`: connections begin with a PROXY header, read before the fast path sees a byte. */
  private proxyHeaders: ProxyHeaderAcceptor | undefined;
  private readonly upgrades: UpgradeRelay;
  /** HTTP/2 client connections (ALPN h2 on https, h2c with prior knowledge on http), when the entrypoint speaks it. */
  private readonly http2: Http2Sessions | undefined;
  readonly shutdown = { closing: false };
  /** The port this entrypoint listens on: every connection's local port (getsockname spared). */
  localPort = 0;
  private readonly connections = new Set<ClientConnection>();
  private readonly nodeConnectionListeners: Array<(socket: Socket) => void>;
  private sweep: NodeJS.Timeout | undefined;
  /** Made at the first request to a mirroring service. */
  private mirrors: Mirrors | undefined;

  constructor(config: EntrypointConfig, context: DataPlaneContext) {
    this.name = config.name;
    this.config = config;
    this.context = context;
    this.trusted = new TrustedProxies(config.trustedProxies);
    this.bodyPace = bodyPaceOf(config);
    this.proxyHeaders = proxyHeaderAcceptor(config, context);
    this.proto = config.protocol === 'https' ? 'https' : 'http';
    this.setHsts(config);
    const headersMs = config.timeouts.requestHeadersMs;
    const httpOptions = {
      maxHeaderSize: 16 * 1024,
      headersTimeout: headersMs,
      // Uploads may legitimately take long; slow clients are bounded by the head timeout.
      requestTimeout: 0,
      keepAliveTimeout: config.timeouts.idleMs,
      connectionsCheckingInterval: this.checkEveryMs(),
      noDelay: true,
      requireHostHeader: true,
    };
    // A client that opens a TLS connection and says nothing is closed after requestHeaders, as one that sends half a head.
    this.http2 = config.http2 ? new Http2Sessions(config.name, config.http2, config.timeouts, this, context.logger) : undefined;
    this.tls = config.protocol === 'https' && config.tls
      ? new TlsTerminator(config.name, config.tls, headersMs, context.tls, context.metrics, context.logger, (socket, info) => this.acceptSecure(socket, info), { challenges: () => context.acmeChallenges, http2: this.http2 !== undefined })
      : undefined;
    this.server = createServer(httpOptions);
    // One more than allowed, so that a request over the limit can be told from one at it (below).
    this.server.maxHeadersCount = MAX_REQUEST_FIELDS + 1;
    this.upgrades = new UpgradeRelay(this.name, context, (clientIp: string, socket: Socket) => ({ ...this.forwarding(clientIp, this.localPort, tlsInfoOfSocket(socket)), upgrade: true }));
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // Node emits 'request' before llhttp has finished checking the head (an unknown
      // Transfer-Encoding is refused just after): wait for the end of this parse, so that a
      // request refused there never reaches a backend.
      process.nextTick(() => {
        if (req.socket.writableEnded || res.destroyed) return;
        if (req.rawHeaders.length > MAX_REQUEST_FIELDS * 2) return sendResponse(res, 431, [['connection', 'close']], errorBody(431, `the request has more than ${MAX_REQUEST_FIELDS} header fields`), this.hsts);
        this.handle(new NodeClient(req, res, this.hsts));
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.config.redirect) return this.redirectUpgrade(req, socket as Socket);
      const route = this.routeFor(req.headers.host ?? '', req.url ?? '/', req.headers);
      // An upgrade through a weighted or mirroring service goes to the service it leads to, without copies.
      this.upgrades.handle(req, socket as Socket, head, route?.service.split ? { ...route, service: chooseService(route.service, { clientIp: peerAddress(req.socket), headers: req.headers }).service } : route, (client) => this.chainRequest(client));
    });
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
    // timeouts and connection tracking) takes over the ones that are deferred. On https the
    // decrypted socket starts there once its handshake is done (TlsTerminator).
    this.nodeConnectionListeners = this.server.listeners('connection') as Array<(socket: Socket) => void>;
    this.server.removeAllListeners('connection');
    const open = context.metrics.openConnections.cell({ entrypoint: this.name, protocol: config.protocol });
    const tls = this.tls;
    this.server.on('connection', (socket: Socket) => {
      if (!context.connectionLimits.admit(socket, this.config, open)) return;
      const proxyHeaders = this.proxyHeaders;
      if (proxyHeaders) proxyHeaders.accept(socket, (rest) => this.acceptProxied(socket, rest));
      else if (tls) tls.accept(socket);
      else if (this.http2) this.acceptCleartext(socket, undefined);
      else this.connections.add(new ClientConnection(socket, this));
    });
  }

  /** A decrypted connection: HTTP/2 when its client chose h2 by ALPN (read once per connection), else the fast path. */
  private acceptSecure(socket: TLSSocket, info: TlsInfo): void {
    if (this.http2 && socket.alpnProtocol === 'h2') return this.http2.accept(socket, peerAddress(socket), info);
    this.connections.add(new ClientConnection(socket, this, info, this.proxyHeaders ? peerAddress(socket) : undefined));
  }

  /** A plain connection on an entrypoint that speaks h2c: HTTP/2 when it opens with the preface, else the fast path. */
  private acceptCleartext(socket: Socket, read: Buffer | undefined): void {
    const http2 = this.http2!;
    sniffPreface(socket, read, this.config.timeouts.requestHeadersMs, (bytes) => http2.accept(socket, peerAddress(socket), undefined, bytes), (bytes) => {
      const connection = new ClientConnection(socket, this, undefined, this.proxyHeaders ? peerAddress(socket) : undefined);
      this.connections.add(connection);
      if (bytes) connection.receive(bytes);
    });
  }

  /** A connection whose PROXY header has been read: the fast path takes it with the bytes after it. */
  private acceptProxied(socket: Socket, rest: Buffer | undefined): void {
    // TLS after the PROXY header: the terminator reads the ClientHello from the bytes it left.
    if (this.tls) return this.tls.accept(socket, rest ?? Buffer.alloc(0));
    if (this.http2) return this.acceptCleartext(socket, rest);
    const connection = new ClientConnection(socket, this, undefined, peerAddress(socket));
    // Tracked before its bytes are parsed: a request left to llhttp at once untracks it again.
    this.connections.add(connection);
    if (rest) connection.receive(rest);
  }

  async listen(reusePort = false): Promise<AddressInfo> {
    this.sweep = setInterval(() => this.checkConnections(), this.checkEveryMs()).unref();
    const bound = await listenOn(this.server, this.config.address, `entrypoint ${this.name}`, reusePort);
    this.localPort = bound.port;
    return bound;
  }

  /** New settings for the same listener (a reload): timeouts, trusted proxies, TLS settings and redirects, in place. */
  update(config: EntrypointConfig): void {
    this.config = config;
    this.trusted = new TrustedProxies(config.trustedProxies);
    this.bodyPace = bodyPaceOf(config);
    this.proxyHeaders = proxyHeaderAcceptor(config, this.context);
    this.server.headersTimeout = config.timeouts.requestHeadersMs;
    this.server.keepAliveTimeout = config.timeouts.idleMs;
    this.setHsts(config);
    if (this.tls && config.tls) this.tls.update(config.tls, config.timeouts.requestHeadersMs);
    if (config.http2) this.http2?.update(config.http2, config.timeouts);
  }

  private setHsts(config: EntrypointConfig): void {
    this.hsts = config.tls?.hsts;
    this.responseHeaders = this.hsts ? `Strict-Transport-Security: ${this.hsts}\r\n` : '';
  }

  async close(graceMs: number): Promise<void> {
    this.shutdown.closing = true;
    this.http2?.goAway();
    this.closeIdleConnections();
    const idleSweep = setInterval(() => this.closeIdleConnections(), 50);
    try {
      await stopServer(this.server, graceMs, () => {
        this.upgrades.destroyAll();
        for (const connection of this.connections) connection.socket.destroy();
        this.http2?.destroyAll();
        this.tls?.destroyHandshaking();
      });
    } finally {
      clearInterval(idleSweep);
      clearInterval(this.sweep);
      this.tls?.close();
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
      else if (connection.idle && connection.idleSince < idleCutoff) connection.idleExpired();
    }
  }

  private closeIdleConnections(): void {
    this.proxyHeaders?.closePending();
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
    // ACME http-01, then redirects: answered by lb before any routing. Neither is set on most entrypoints.
    if ((this.context.acmeChallenges !== undefined || this.config.redirect !== undefined) && this.answerItself(client, started)) return;
    const route = this.routeFor(client.host, client.url, () => client.headers);
    if (!route) return this.reject(client, started, undefined, new ProxyError('no_route'));
    if (route.middlewares) return this.runMiddlewares(client, started, route, route.middlewares);
    this.forward(client, started, route, undefined);
  }

  /** The router's middlewares, in order; then, unless one answered, the request goes on with their edits. */
  private runMiddlewares(client: ClientExchange, started: number, route: HttpRoute, chain: MiddlewareChain): void {
    chain.run(new RoutedRequest(client, started, route, this.trusted, this.bodyPace), this.afterChain);
  }

  private readonly afterChain: ChainOutcome<RoutedRequest> = {
    forward: (request) => this.forward(request.client, request.started, request.route, request),
    answer: (answer, request) => this.answer(request.client, request.started, answer.status, answer.headers, answer.body, request.route, request.user),
    fail: (error, request) => this.reject(request.client, request.started, request.route, error, request.user, request.answerEdits),
  };

  private chainRequest(client: ChainClient): ChainRequest {
    return new ChainRequest(client, this.trusted, this.bodyPace);
  }

  private forward(client: ClientExchange, started: number, found: HttpRoute, middleware: ChainRequest | undefined): void {
    // The client is its own pick context: its headers are only made if a balancer reads them.
    const proxied: ProxiedRequest = { client, started, route: found, pick: client, retries: 0, body: null, middleware, cookies: undefined, mirrors: undefined };
    if (found.service.split) this.split(proxied);
    const route = proxied.route;
    this.context.retryBudgets.for(route.service).onRequest();
    if (middleware?.body) {
      proxied.body = middleware.body;
      // A chunked body read whole (buffering) is measured now, as a known length was at the split.
      if (proxied.mirrors && client.contentLength < 0) proxied.mirrors = this.mirrors!.fitting(proxied.mirrors, middleware.bodyBytes);
      return this.dispatch(proxied);
    }
    const retry = route.service.config.retry;
    const length = client.contentLength;
    if (length > 0 && ((retry.attempts > 0 && length <= retry.bufferBodyBytes) || proxied.mirrors)) {
      // Small bodies are read first, so that a retry can send them again.
      client.readBody(
        (body) => {
          proxied.body = body;
          this.dispatch(proxied);
        },
        {
          pauseMs: this.config.timeouts.requestBodyMs,
          minRate: this.config.minRequestBodyRate,
          onStall: () => this.rejectProxied(proxied, new ProxyError('request_body_timeout')),
          // Logged and counted as any request its client left, and what its middlewares hold (an inFlightReq slot) let go.
          onGone: () => this.rejectProxied(proxied, new ProxyError('client_abort', 'the client left while its request body was read')),
        },
      );
      return;
    }
    if (length !== 0) proxied.body = proxied.mirrors ? this.mirroredBody(proxied, proxied.mirrors, client.streamBody()) : client.streamBody();
    this.dispatch(proxied);
  }

  /** A chunked body (a known length was read whole above): its copies go when it has streamed to its end. */
  private mirroredBody(proxied: ProxiedRequest, copies: readonly MirrorCopy[], body: StreamedBody): MirroredBody {
    proxied.mirrors = undefined;
    const limit = Math.max(...copies.map((copy) => copy.config.maxBodyBytes));
    return new MirroredBody(body, limit, (chunks, payload) => {
      // No chunks: the body outgrew every limit, so no copy fits it.
      const fitting = this.mirrors!.fitting(copies, chunks ? payload : Infinity);
      if (fitting.length) this.sendMirrors(proxied, fitting, chunks!);
    });
  }

  /**
   * A weighted or mirroring service (control/service-split.ts): the request goes on as one to the
   * service it leads to, which names it in metrics and logs, and whose settings apply.
   */
  private split(proxied: ProxiedRequest): void {
    const { route, client } = proxied;
    const choice = chooseService(route.service, client);
    // The router's own (its middlewares) stays: only the service changes.
    proxied.route = { ...route, service: choice.service };
    proxied.cookies = choice.cookies;
    proxied.mirrors = choice.mirrors && (this.mirrors ??= new Mirrors(this.context.metrics)).withCopyableBody(choice.mirrors, client.contentLength);
  }

  /** The copies of a request for its mirrors: sent once, after the request itself (its head made). */
  private sendMirrors(proxied: ProxiedRequest, copies: readonly MirrorCopy[], body: Buffer[] | null): void {
    proxied.mirrors = undefined;
    const { client } = proxied;
    const rule = this.connectionRule(client, proxied.route.service);
    const request = { method: client.method, head: proxied.head!, body, reset: rule === 'own', freshOnly: rule === 'fresh', requestBodyTimeout: this.config.timeouts.requestBodyMs };
    this.mirrors!.send(copies, request, client, (backend, service) => this.upstreamFor(client, backend, service, rule === 'own'));
  }

  private upstreamFor(client: ClientExchange, backend: Backend, service: ServicePool, own: boolean) {
    const version = service.config.proxyProtocol;
    return version ? privateUpstream(client.socket, backend, service.config.timeouts.connectMs, version, service.config.tls) : this.context.pools.get(backend, service, own);
  }

  private dispatch(proxied: ProxiedRequest, exclude?: Backend): void {
    const { client, route } = proxied;
    const service = route.service;
    const backend = service.balancer.pick(proxied.pick, exclude);
    if (!backend) {
      if (!proxied.waited && proxied.retries === 0 && service.config.emptyPoolWaitMs > 0) return void this.awaitServer(proxied);
      return this.rejectProxied(proxied, new ProxyError('no_backend', `service ${service.name}`));
    }
    const relay = client.relay(route, backend, withCookies(proxied.cookies, service.balancer.affinityCookie?.(proxied.pick, backend)), {
      shutdown: this.shutdown,
      done: (outcome) => this.record(proxied, outcome),
      retry: (error, failed) => this.retry(proxied, error, failed),
    });
    const rule = this.connectionRule(client, service);
    const own = rule === 'own';
    this.upstreamFor(client, backend, service, own).dispatch(
      {
        method: client.method,
        reset: own,
        freshOnly: rule === 'fresh',
        head: (proxied.head ??= client.upstreamHead(this.forwardingFacts(client), own, proxied.middleware?.requestEdits)),
        body: proxied.body,
        headersTimeout: service.config.timeouts.responseHeadersMs,
        bodyTimeout: service.config.timeouts.idleMs,
        requestBodyTimeout: this.config.timeouts.requestBodyMs,
        minRequestBodyRate: this.config.minRequestBodyRate,
        responseReadTimeout: this.config.timeouts.idleMs,
        rawChunked: client.acceptsChunked,
        responseEdits: route.middlewares?.responseEdits,
      },
      route.middlewares?.wrapsResponses ? route.middlewares.wrap(relay, proxied.middleware!) : relay,
    );
    if (proxied.mirrors) this.sendMirrors(proxied, proxied.mirrors, proxied.body as Buffer[] | null);
  }

  /** Which connection the request may take (own: its head says Connection: close); the same for every attempt and copy. */
  private connectionRule(client: ClientExchange, service: ServicePool): ConnectionRule {
    return connectionRule(client.method, client.firstOnConnection, service.config.retry.unsafeReuse);
  }

  private forwardingFacts(client: ClientExchange): ForwardingFacts {
    return this.forwarding(client.clientIp, client.localPort, client.tls);
  }

  private forwarding(clientIp: string, localPort: number, tls: TlsInfo | undefined): ForwardingFacts {
    const facts: ForwardingFacts = {
      clientIp,
      trusted: this.trusted.trusts(clientIp),
      proto: this.proto,
      port: localPort || this.config.address.port,
      upgrade: false,
    };
    if (this.config.tls?.clientAuth?.forwardSubject) facts.clientSubject = tls?.clientSubject ?? '';
    return facts;
  }

  /** An ACME http-01 challenge, or the redirect of an http entrypoint: true when answered. */
  private answerItself(client: ClientExchange, started: number): boolean {
    const answer = this.context.acmeChallenges?.http01Answer(client.url);
    if (answer !== undefined) {
      this.answer(client, started, 200, [], answer);
      return true;
    }
    if (this.config.redirect === undefined) return false;
    const redirect = this.redirectFor(client.host, client.url);
    this.answer(client, started, redirect.status, redirect.headers, redirect.body);
    return true;
  }

  /** The 308 to the https entrypoint (or a 400 without a usable Host) for a request on an entrypoint that redirects. */
  private redirectFor(host: string, url: string): { status: number; headers: Array<[string, string]>; body: string } {
    const redirect = this.config.redirect!;
    const location = redirectLocation(host, url, redirect.port ?? this.context.portOf(redirect.to));
    return location === undefined
      ? { status: 400, headers: [], body: 'a redirect to https needs the Host header\n' }
      : { status: 308, headers: [['Location', location]], body: `308 Permanent Redirect: ${location}\n` };
  }

  /** A response lb makes itself: counted and logged like any other, with the router whose middleware made it, if any. */
  private answer(client: ClientExchange, started: number, status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer, route?: HttpRoute, user?: string): void {
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route?.router ?? '', route?.service.name ?? '', client.method, status, seconds);
    this.context.accessLog?.write(accessEntry(client, status, seconds, route, undefined, 0, 0, 0, undefined, '--', user));
    client.respond(status, headers, body);
  }

  /** An upgrade (WebSocket) on an entrypoint that redirects: the same 308, on the raw socket. */
  private redirectUpgrade(req: IncomingMessage, socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const host = req.headers.host ?? '';
    const { status, headers, body } = this.redirectFor(host, req.url ?? '/');
    const request = { clientIp: peerAddress(req.socket), method: req.method ?? 'GET', host, url: req.url ?? '/', tls: undefined };
    this.context.metrics.observeRequest(this.name, '', '', request.method, status, 0);
    this.context.accessLog?.write(accessEntry(request, status, 0, undefined, undefined, 0, 0, 0, undefined, '--'));
    socket.end(rawResponse(status, headers, body));
  }

  /** Deploy grace: hold a request for an empty pool until a server appears or emptyPoolWait ends. */
  private async awaitServer(proxied: ProxiedRequest): Promise<void> {
    const { client } = proxied;
    const deadline = proxied.started + proxied.route.service.config.emptyPoolWaitMs;
    while (performance.now() < deadline && !client.gone) {
      await this.context.signals.nextSnapshot(deadline - performance.now());
      const route = this.routeFor(client.host, client.url, () => client.headers);
      // The same route, whose pool may now have a server: its service again, through any split.
      // Only the service is taken: the request already went through the middlewares of its router.
      const choice = route?.service.split ? chooseService(route.service, client) : undefined;
      const service = choice ? choice.service : route?.service;
      if (route && service && service.members.length > 0) {
        proxied.route = { ...proxied.route, service };
        if (choice) proxied.cookies = choice.cookies;
        proxied.waited = true;
        return this.dispatch(proxied);
      }
    }
    if (!client.gone) this.rejectProxied(proxied, new ProxyError('no_backend', `service ${proxied.route.service.name}, after waiting ${proxied.route.service.config.emptyPoolWaitMs}ms`));
    else proxied.middleware?.end();
  }

  /** Called when a backend failed before any response byte; true when another server got the request. */
  private retry(proxied: ProxiedRequest, error: ProxyError, failed: Backend): boolean {
    const service = proxied.route.service;
    if (reflectsOnServer(error)) recordPassive(this.context.signals, service, failed, error.kind);
    if (proxied.retries >= service.config.retry.attempts || proxied.client.gone) return false;
    if (!isRetryable(error, proxied.client.method, proxied.body)) return false;
    if (!service.balancer.pick(proxied.pick, failed)) return false;
    if (!this.context.retryBudgets.for(service).tryRetry()) return false;
    proxied.retries++;
    this.context.metrics.retries.labels(service.name, error.kind).inc();
    this.context.logger.debug({ service: service.name, backend: failed.id, code: error.code }, 'retrying on another server');
    this.dispatch(proxied, failed);
    return true;
  }

  /** `edits`: the response edits of the router's middlewares that the answer goes back through. */
  private reject(client: ClientExchange, started: number, route: HttpRoute | undefined, error: ProxyError, user?: string, edits?: HeaderEdits): void {
    const service = route?.service.name ?? '';
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route?.router ?? '', service, client.method, error.status, seconds);
    if (error.kind !== 'no_route') this.context.metrics.observeError(service, error.kind);
    if (error.kind === 'no_backend') {
      this.context.logger.warn({ entrypoint: this.name, router: route?.router, service, code: error.code }, error.message);
    }
    this.context.accessLog?.write(accessEntry(client, error.status, seconds, route, undefined, 0, 0, 0, error, terminationOf(error, false), user));
    client.sendError(error, edits);
  }

  /** A request that got past its middlewares, answered with an error before any server did. */
  private rejectProxied(proxied: ProxiedRequest, error: ProxyError): void {
    this.reject(proxied.client, proxied.started, proxied.route, error, proxied.middleware?.user, proxied.route.middlewares?.responseEdits);
    proxied.middleware?.end();
  }

  private record(proxied: ProxiedRequest, outcome: ExchangeOutcome): void {
    proxied.middleware?.end();
    const { client, started } = proxied;
    const { route, backend, status, error, bytesIn, bytesOut, responded } = outcome;
    const service = route.service.name;
    const seconds = (performance.now() - started) / 1000;
    this.context.metrics.observeRequest(this.name, route.router, service, client.method, status, seconds, bytesIn, bytesOut, backend.traffic);
    this.context.accessLog?.write(accessEntry(client, status, seconds, route, backend, proxied.retries, bytesIn, bytesOut, error, terminationOf(error, responded), proxied.middleware?.user));
    // Failures before the response head were counted when they happened (see retry()).
    if (!error) recordPassive(this.context.signals, route.service, backend, gatewayFailure(status));
    if (!error) return;
    this.context.metrics.observeError(service, error.kind);
    const fields = { entrypoint: this.name, router: route.router, service, backend: backend.id, code: error.code, method: client.method };
    if (error.kind === 'client_abort') this.context.logger.debug(fields, error.message);
    else this.context.logger.warn(fields, error.message);
  }
}
