import { Agent, type ClientRequest, type ClientRequestArgs, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { NetConnectOpts, Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import httpProxy from 'http-proxy';
import type { HttpRoute } from '../../control/snapshot.js';
import type { Backend } from '../../balancer/index.js';
import type { UpstreamTlsConfig } from '../../config/types.js';
import { classifyUpstreamError, ProxyError, terminationOf } from '../../errors.js';
import { connectUpstream, upstreamTlsOptions } from '../../tls/upstream.js';
import { gatewayFailure, recordPassive, reflectsOnServer, type DataPlaneContext } from '../context.js';
import { accessEntry } from './access-entry.js';
import { proxyErrorResponse, rawResponse } from './error-response.js';
import type { HeaderEdits } from '../http1/header-edits.js';
import type { ChainClient, ChainRequest } from '../../middleware/chain.js';
import { connectionAddresses, peerAddress } from '../accept-proxy.js';
import { writeProxyHeader } from '../proxy-protocol.js';
import { tlsInfoOf, type TlsInfo } from '../../tls/terminator.js';
import { upstreamRequestHeaders, type ForwardingFacts } from './headers.js';

/**
 * One upgrade request, from routing to the end of its tunnel: its metrics once the server answered
 * or the upgrade failed, its passive-health signal, and its access-log line when the client
 * connection closes.
 */
class Upgrade {
  readonly started = performance.now();
  timer: NodeJS.Timeout | undefined;
  /** The server's answer (101, or a refusal) went to the client. */
  private responded = false;
  /** The status the client got; 0 until the server answered or the upgrade failed. */
  private status = 0;
  private error: ProxyError | undefined;
  /** Bytes on the client connection before what the tunnel relays (the request head). */
  private readonly readBefore: number;
  private readonly writtenBefore: number;

  constructor(
    private readonly entrypoint: string,
    private readonly context: DataPlaneContext,
    readonly request: { clientIp: string; method: string; host: string; url: string; tls: TlsInfo | undefined },
    private readonly route: HttpRoute,
    private readonly backend: Backend,
    private readonly socket: Socket,
    head: Buffer,
  ) {
    this.readBefore = socket.bytesRead - head.length;
    this.writtenBefore = socket.bytesWritten;
  }

  get connectMs(): number {
    return this.route.service.config.timeouts.connectMs;
  }

  get responseMs(): number {
    return this.route.service.config.timeouts.responseHeadersMs;
  }

  /**
   * The server's answer, before http-proxy copies its headers to the client: the response phase
   * of the router's middlewares edits them, as for any response.
   */
  editAnswer(answer: IncomingMessage): void {
    this.route.middlewares?.editHead(answer.headers);
  }

  /** The server answered: 101 (the tunnel opens) or a refusal of the upgrade. */
  answered(status: number): void {
    clearTimeout(this.timer);
    if (this.status !== 0) return;
    this.responded = true;
    this.respond(status);
    recordPassive(this.context.signals, this.route.service, this.backend, gatewayFailure(status));
  }

  /** The upgrade failed, or its tunnel broke; true when nothing had been answered yet. */
  failed(error: ProxyError): boolean {
    clearTimeout(this.timer);
    // One exchange, one error: http-proxy still calls back with its own after a client left.
    if (this.error) return false;
    this.error = error;
    this.context.metrics.observeError(this.route.service.name, error.kind);
    if (this.status !== 0) return false;
    this.respond(error.status);
    if (reflectsOnServer(error)) recordPassive(this.context.signals, this.route.service, this.backend, error.kind);
    return true;
  }

  /** The client connection closed: the exchange is over. */
  closed(): void {
    clearTimeout(this.timer);
    if (this.status === 0) this.failed(new ProxyError('client_abort'));
    const socket = this.socket;
    const seconds = (performance.now() - this.started) / 1000;
    this.context.accessLog?.write(accessEntry(this.request, this.status, seconds, this.route, this.backend, 0, socket.bytesRead - this.readBefore, socket.bytesWritten - this.writtenBefore, this.error, terminationOf(this.error, this.responded)));
  }

  private respond(status: number): void {
    this.status = status;
    this.context.metrics.observeRequest(this.entrypoint, this.route.router, this.route.service.name, this.request.method, status, (performance.now() - this.started) / 1000, 0, 0, this.backend.traffic);
  }
}

/**
 * The agent of one upgrade to a server of a service with `proxyProtocol`: its connection begins
 * with the client's PROXY header, then TLS with `tls` for an https:// server.
 */
class ProxyHeaderAgent extends Agent {
  constructor(
    private readonly header: Buffer,
    private readonly tls: ConnectionOptions | undefined,
  ) {
    super({ keepAlive: false });
    // http.request refuses an agent whose protocol is not the target's.
    (this as { protocol?: string }).protocol = tls ? 'https:' : 'http:';
  }

  override createConnection(options: ClientRequestArgs): Socket {
    return connectUpstream(options as NetConnectOpts, this.tls, this.header);
  }
}

/**
 * Until the server answers, nothing reads the client socket (http-proxy pipes it only after a
 * 101), so a client that leaves would go unseen and the server's connection stay open until the
 * response timeout. It is read meanwhile to see its FIN or reset, which abort the server's
 * request at once. A client that sends bytes before the answer (it should wait for the 101) has
 * them put back for the tunnel, and is no longer watched.
 */
function watchClientUntilAnswered(socket: Socket, proxyReq: ClientRequest): void {
  const left = () => proxyReq.destroy(new ProxyError('client_abort'));
  const early = (chunk: Buffer) => {
    stop();
    socket.unshift(chunk);
  };
  const stop = () => {
    socket.off('data', early).off('end', left).off('close', left);
    // Paused until http-proxy pipes it, so that no byte is read with no one listening.
    socket.pause();
  };
  socket.on('data', early).once('end', left).once('close', left);
  socket.resume();
  proxyReq.once('upgrade', stop).once('response', stop);
}

/** Lets http-proxy's 'proxyReqWs' event find the upgrade its request belongs to. */
const upgrades = new WeakMap<IncomingMessage, Upgrade>();

/**
 * WebSocket and other `Upgrade` requests, relayed with http-proxy after the same routing as
 * plain requests. http-proxy 1.18.1 is unmaintained; this class works around its known bugs
 * (each has a test in test/websocket-*.test.ts):
 * - it never listens for errors on the client socket before the upgrade completes, so a client
 *   reset during the handshake would crash the process: we attach a handler first;
 * - when the backend declines the upgrade with a chunked response, it copies
 *   `Transfer-Encoding: chunked` but pipes the de-chunked body, corrupting the framing: we drop
 *   the header and close-delimit the body instead;
 * - on a connect failure it ends the client socket without a response, and it has no connect
 *   timeout: we answer 502 or 504 ourselves and arm our own timer;
 * - it destroys, without a word, every upgrade that is not `Upgrade: websocket` (h2c, custom
 *   protocols): we drop that pass, since any upgrade that routed here may go through.
 */
export class UpgradeRelay {
  private readonly proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, changeOrigin: false, prependPath: false });
  private readonly sockets = new Set<Socket>();
  /** For https:// servers: an agent per service TLS settings and server host, carrying them into http-proxy. */
  private readonly tlsAgents = new WeakMap<UpstreamTlsConfig, Map<string, HttpsAgent>>();

  /** `forwarding`: the X-Forwarded-* facts of an upgrade request, from its entrypoint. */
  constructor(
    private readonly entrypoint: string,
    private readonly context: DataPlaneContext,
    private readonly forwarding: (clientIp: string, socket: Socket) => ForwardingFacts,
  ) {
    const internals = this.proxy as unknown as { wsPasses: Array<(...args: unknown[]) => unknown> };
    internals.wsPasses = internals.wsPasses.filter((pass) => pass.name !== 'checkMethodAndHeader');
    this.proxy.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Socket) => this.watchUpstream(proxyReq, req, socket));
    // Without a listener http-proxy's emitter throws on 'error'; errors are handled per call.
    this.proxy.on('error', () => undefined);
  }

  /** `chainRequest`: makes the request that a router's middlewares see and edit. */
  handle(req: IncomingMessage, socket: Socket, head: Buffer, route: HttpRoute | undefined, chainRequest: (client: ChainClient) => ChainRequest): void {
    socket.on('error', () => socket.destroy());
    const clientIp = peerAddress(req.socket);
    const request = { clientIp, method: req.method ?? 'GET', host: req.headers.host ?? '', url: req.url ?? '/', tls: tlsInfoOf(req.socket) };
    if (!route) return this.refuse(socket, request, undefined, new ProxyError('no_route'));
    const chain = route.middlewares;
    if (!chain) return this.proxyUpgrade(req, socket, head, route, request, undefined);
    // The same middlewares as other requests: the request phase here, the response phase on the
    // server's answer (a head only: an upgrade has no body to read, a 101 none to compress).
    const client: ChainClient = {
      ...request, headers: req.headers, rawHeaders: req.rawHeaders, localPort: req.socket.localPort ?? 0, contentLength: 0, acceptsChunked: false,
      get gone() {
        return socket.destroyed;
      },
      streamBody: () => {
        throw new Error('an upgrade request has no body to read');
      },
    };
    chain.run(chainRequest(client), {
      forward: (middleware) => this.proxyUpgrade(req, socket, head, route, request, middleware),
      answer: (answer, middleware) => {
        this.context.metrics.observeRequest(this.entrypoint, route.router, route.service.name, request.method, answer.status, 0);
        this.context.accessLog?.write(accessEntry(request, answer.status, 0, route, undefined, 0, 0, 0, undefined, '--', middleware.user));
        socket.end(rawResponse(answer.status, answer.headers, answer.body));
      },
      fail: (error, middleware) => this.refuse(socket, request, route, error, middleware.answerEdits),
    });
  }

  private proxyUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: HttpRoute, request: Upgrade['request'], middleware: ChainRequest | undefined): void {
    const clientIp = request.clientIp;
    const backend = route.service.balancer.pick({ clientIp, headers: req.headers });
    if (!backend) {
      this.refuse(socket, request, route, new ProxyError('no_backend', `service ${route.service.name}`), route.middlewares?.responseEdits);
      return middleware?.end();
    }

    const facts = this.forwarding(clientIp, req.socket);
    const edits = middleware?.requestEdits;
    const headers = upstreamRequestHeaders({ rawHeaders: req.rawHeaders, headers: req.headers, host: req.headers.host ?? '' }, facts, edits);
    if (edits) req.url = edits.url;
    // http-proxy copies req.headers verbatim, so the filtered set replaces it.
    const replaced: Record<string, string | string[]> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      const previous = replaced[name];
      replaced[name] = previous === undefined ? headers[i + 1]! : name === 'cookie' ? `${previous}; ${headers[i + 1]!}` : [previous, headers[i + 1]!].flat();
    }
    req.headers = replaced as IncomingMessage['headers'];

    const upgrade = new Upgrade(this.entrypoint, this.context, request, route, backend, socket, head);
    upgrades.set(req, upgrade);
    backend.inFlight++;
    this.sockets.add(socket);
    socket.once('close', () => {
      backend.inFlight--;
      this.sockets.delete(socket);
      upgrade.closed();
      middleware?.end();
    });
    const version = route.service.config.proxyProtocol;
    const tls = route.service.config.tls;
    const agent = version
      ? new ProxyHeaderAgent(writeProxyHeader(version, connectionAddresses(socket)), backend.scheme === 'https' ? upstreamTlsOptions(tls, backend.host) : undefined)
      : backend.scheme === 'https'
        ? this.tlsAgent(tls, backend.host)
        : undefined;
    this.proxy.ws(req, socket, head, { target: backend.origin, ...(agent ? { agent } : {}) }, (err: Error) => {
      const error = classifyUpstreamError(err);
      const left = error.kind === 'client_abort';
      // As on the HTTP path, a client that left is no fault of lb's or the server's.
      this.context.logger[left ? 'debug' : 'warn'](
        { entrypoint: this.entrypoint, router: route.router, service: route.service.name, backend: backend.id, code: error.code, ms: Math.round(performance.now() - upgrade.started) },
        `upgrade failed: ${error.message}`,
      );
      if (upgrade.failed(error) && socket.writable && !left) socket.write(proxyErrorResponse(error, 'close', '', route.middlewares?.responseEdits));
    });
  }

  private tlsAgent(tls: UpstreamTlsConfig, host: string): HttpsAgent {
    let byHost = this.tlsAgents.get(tls);
    if (!byHost) this.tlsAgents.set(tls, (byHost = new Map()));
    let agent = byHost.get(host);
    if (!agent) byHost.set(host, (agent = new HttpsAgent(upstreamTlsOptions(tls, host))));
    return agent;
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** `edits`: the response edits of the router's middlewares that the answer goes back through. */
  private refuse(socket: Socket, request: Upgrade['request'], route: HttpRoute | undefined, error: ProxyError, edits?: HeaderEdits): void {
    this.context.accessLog?.write(accessEntry(request, error.status, 0, route, undefined, 0, 0, 0, error, terminationOf(error, false)));
    socket.end(proxyErrorResponse(error, 'close', '', edits));
  }

  private watchUpstream(proxyReq: ClientRequest, req: IncomingMessage, socket: Socket): void {
    const upgrade = upgrades.get(req);
    if (!upgrade) return;
    watchClientUntilAnswered(socket, proxyReq);
    upgrade.timer = setTimeout(() => proxyReq.destroy(new ProxyError('connect_timeout')), upgrade.connectMs);
    proxyReq.once('socket', (upstream: Socket) => {
      upstream.once('connect', () => {
        clearTimeout(upgrade.timer);
        upgrade.timer = setTimeout(() => proxyReq.destroy(new ProxyError('response_timeout')), upgrade.responseMs);
      });
    });
    // Registered before http-proxy's own 'upgrade' and 'response' listeners, which copy these headers.
    proxyReq.on('upgrade', (res: IncomingMessage) => {
      upgrade.editAnswer(res);
      upgrade.answered(101);
    });
    proxyReq.on('response', (res: IncomingMessage) => {
      upgrade.editAnswer(res);
      upgrade.answered(res.statusCode ?? 502);
      delete res.headers['transfer-encoding'];
      delete res.headers['keep-alive'];
      res.headers.connection = 'close';
    });
  }
}
