import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import type { HttpRoute } from '../../control/snapshot.js';
import { classifyUpstreamError, ProxyError } from '../../errors.js';
import type { DataPlaneContext } from '../context.js';
import { rawErrorResponse } from './error-response.js';
import { clientAddress, upstreamRequestHeaders, type TrustedProxies } from './headers.js';

interface UpgradeState {
  connectMs: number;
  responseMs: number;
  timer?: NodeJS.Timeout;
  upgraded: boolean;
  /** Counts the request once, with the status the client got. */
  record(status: number): void;
}

/** Lets http-proxy's 'proxyReqWs' event find the state of the request it belongs to. */
const upgradeState = new WeakMap<IncomingMessage, UpgradeState>();

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

  constructor(
    private readonly entrypoint: string,
    private readonly context: DataPlaneContext,
    private readonly trusted: () => TrustedProxies,
  ) {
    const internals = this.proxy as unknown as { wsPasses: Array<(...args: unknown[]) => unknown> };
    internals.wsPasses = internals.wsPasses.filter((pass) => pass.name !== 'checkMethodAndHeader');
    this.proxy.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) => this.watchUpstream(proxyReq, req));
    // Without a listener http-proxy's emitter throws on 'error'; errors are handled per call.
    this.proxy.on('error', () => undefined);
  }

  handle(req: IncomingMessage, socket: Socket, head: Buffer, route: HttpRoute | undefined): void {
    socket.on('error', () => socket.destroy());
    if (!route) return this.refuse(socket, new ProxyError('no_route'));
    const clientIp = clientAddress(req.socket.remoteAddress);
    const backend = route.service.balancer.pick({ clientIp, headers: req.headers });
    if (!backend) return this.refuse(socket, new ProxyError('no_backend', `service ${route.service.name}`));

    const headers = upstreamRequestHeaders({ rawHeaders: req.rawHeaders, headers: req.headers, host: req.headers.host ?? '' }, {
      clientIp,
      trusted: this.trusted().trusts(clientIp),
      proto: 'http',
      port: socket.localPort ?? 0,
      upgrade: true,
    });
    // http-proxy copies req.headers verbatim, so the filtered set replaces it.
    const replaced: Record<string, string | string[]> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      const previous = replaced[name];
      replaced[name] = previous === undefined ? headers[i + 1]! : name === 'cookie' ? `${previous}; ${headers[i + 1]!}` : [previous, headers[i + 1]!].flat();
    }
    req.headers = replaced as IncomingMessage['headers'];

    const metrics = this.context.metrics;
    const started = performance.now();
    let recorded = false;
    const state: UpgradeState = {
      connectMs: route.service.config.timeouts.connectMs,
      responseMs: route.service.config.timeouts.responseHeadersMs,
      upgraded: false,
      record: (status) => {
        if (recorded) return;
        recorded = true;
        metrics.observeRequest(this.entrypoint, route.router, route.service.name, req.method ?? 'GET', status, (performance.now() - started) / 1000);
      },
    };
    upgradeState.set(req, state);
    backend.inFlight++;
    this.sockets.add(socket);
    socket.once('close', () => {
      backend.inFlight--;
      this.sockets.delete(socket);
      clearTimeout(state.timer);
    });
    this.proxy.ws(req, socket, head, { target: backend.origin }, (err: Error) => {
      clearTimeout(state.timer);
      const error = classifyUpstreamError(err);
      metrics.observeError(route.service.name, error.kind);
      state.record(error.status);
      this.context.logger.warn(
        { entrypoint: this.entrypoint, router: route.router, service: route.service.name, backend: backend.id, code: error.code, ms: Math.round(performance.now() - started) },
        `upgrade failed: ${error.message}`,
      );
      if (!state.upgraded && socket.writable) socket.write(rawErrorResponse(error.status, error.message, error.code));
    });
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private refuse(socket: Socket, error: ProxyError): void {
    socket.end(rawErrorResponse(error.status, error.message, error.code));
  }

  private watchUpstream(proxyReq: ClientRequest, req: IncomingMessage): void {
    const state = upgradeState.get(req);
    if (!state) return;
    const expire = (what: string) => () => proxyReq.destroy(Object.assign(new Error(what), { code: 'ETIMEDOUT' }));
    state.timer = setTimeout(expire('connect timed out'), state.connectMs);
    proxyReq.once('socket', (upstream: Socket) => {
      upstream.once('connect', () => {
        clearTimeout(state.timer);
        state.timer = setTimeout(expire('no upgrade response in time'), state.responseMs);
      });
    });
    proxyReq.on('upgrade', () => {
      state.upgraded = true;
      clearTimeout(state.timer);
      state.record(101);
    });
    // Registered before http-proxy's own 'response' listener, which copies these headers.
    proxyReq.on('response', (res: IncomingMessage) => {
      clearTimeout(state.timer);
      state.record(res.statusCode ?? 502);
      delete res.headers['transfer-encoding'];
      delete res.headers['keep-alive'];
      res.headers.connection = 'close';
    });
  }
}
