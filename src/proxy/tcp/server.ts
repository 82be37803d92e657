import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Backend, PickContext } from '../../balancer/index.js';
import type { EntrypointConfig } from '../../config/types.js';
import type { RouteTable } from '../../control/route-table.js';
import type { ServicePool, TcpRoute } from '../../control/snapshot.js';
import { classifyUpstreamError, ProxyError } from '../../errors.js';
import { readClientHello } from '../../tls/client-hello.js';
import { rawSocketOf, TlsTerminator } from '../../tls/terminator.js';
import { recordPassive, type DataPlaneContext } from '../context.js';
import { listenOn, stopServer } from '../listen.js';
import { ReadBuffer } from '../read-buffers.js';
import { unwatch, watch, type Timed } from '../deadlines.js';
import { connectionAddresses, peerAddress, untrustedHeader, proxyHeaderAcceptor, type ProxyHeaderAcceptor } from '../accept-proxy.js';
import { startsWithProxySignature, writeProxyHeader } from '../proxy-protocol.js';

/**
 * A client connection on its way to a server, as balancers see it (the client's address is read,
 * getpeername, only if one hashes on it), with what every attempt to dial must send first.
 */
class TcpPick implements PickContext {
  constructor(
    private readonly client: Socket,
    /** Client bytes read before the tunnel, with the PROXY header that came before them. */
    readonly firstBytes: Buffer | undefined,
    /** Set for an untrusted peer of an entrypoint with `proxyProtocol`: its first bytes must not be a PROXY header. */
    readonly screen: ProxyHeaderAcceptor | undefined,
  ) {}

  get clientIp(): string {
    return peerAddress(this.client);
  }
}

/**
 * The FIN of one side, passed on to `dest`. When `dest` has sent its own FIN already and nothing
 * is queued for it, it is closed outright: close() sends the FIN after the bytes in the kernel,
 * one system call instead of shutdown() and close(). Not a TLS socket, whose end() sends the
 * close_notify that tells its client the stream ended whole.
 */
function passFin(dest: Socket): void {
  if (dest.readableEnded && dest.writableLength === 0 && !(dest as TLSSocket).encrypted) dest.destroy();
  else dest.end();
}

/** Why a connection to an entrypoint with sni routers was closed before it was routed (a metric label). */
type SniRejection = 'timeout' | 'closed' | 'not_tls' | 'malformed' | 'no_sni' | 'unknown_name';

/**
 * Holds an untrusted peer's first bytes until they show whether a PROXY header starts there:
 * then the connection is refused, else they and the rest go to `forward`. Before the relay's own
 * 'end' listener, so that bytes held at a FIN still go first.
 */
function screenFirstBytes(client: Socket, upstream: Socket, screen: ProxyHeaderAcceptor, forward: (chunk: Buffer) => void): void {
  let held: Buffer | undefined;
  const release = () => {
    client.off('data', onFirst);
    client.off('end', release);
    if (held) forward(held);
  };
  const onFirst = (chunk: Buffer) => {
    held = held ? Buffer.concat([held, chunk]) : chunk;
    const signature = startsWithProxySignature(held);
    if (signature === undefined) return;
    if (!signature) {
      release();
      client.on('data', forward);
      return;
    }
    client.off('data', onFirst);
    client.off('end', release);
    upstream.destroy();
    screen.reject(client, 'untrusted_source', untrustedHeader);
  };
  client.on('data', onFirst);
  client.once('end', release);
}

/**
 * An L4 entrypoint: each client connection is relayed to one server of the router's service.
 * Both directions keep backpressure, and a FIN in one direction is passed on while the
 * other keeps flowing (half-close), as HAProxy does in `mode tcp`.
 */
export class TcpEntrypoint {
  readonly name: string;
  private config: EntrypointConfig;
  private readonly context: DataPlaneContext;
  private readonly server: Server;
  private readonly tunnels = new Set<Socket>();
  /** Set with `proxyProtocol`: trusted peers' connections begin with a PROXY header. */
  private proxyHeaders: ProxyHeaderAcceptor | undefined;
  /** Set with `tls`: the handshakes of routers with `tls: terminate`, with the entrypoint's certificates. */
  private tls: TlsTerminator | undefined;
  /** The route of each raw connection in its handshake, for its TLS socket once the handshake is done. */
  private readonly terminating = new WeakMap<Socket, TcpRoute>();

  constructor(config: EntrypointConfig, context: DataPlaneContext) {
    this.name = config.name;
    this.config = config;
    this.context = context;
    this.proxyHeaders = proxyHeaderAcceptor(config, context);
    this.tls = this.terminator(config);
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    const open = context.metrics.openConnections.cell({ entrypoint: this.name, protocol: 'tcp' });
    this.server.on('connection', (socket: Socket) => {
      if (context.connectionLimits.admit(socket, this.config, open)) this.accept(socket);
    });
  }

  listen(reusePort = false): Promise<AddressInfo> {
    return listenOn(this.server, this.config.address, `entrypoint ${this.name}`, reusePort);
  }

  /** New settings for the same listener (a reload): the idle timeout and TLS settings of new tunnels. */
  update(config: EntrypointConfig): void {
    this.config = config;
    this.proxyHeaders = proxyHeaderAcceptor(config, this.context);
    if (this.tls && config.tls) return this.tls.update(config.tls, config.timeouts.requestHeadersMs);
    this.tls?.close();
    this.tls = this.terminator(config);
  }

  async close(graceMs: number): Promise<void> {
    this.proxyHeaders?.closePending();
    this.tls?.close();
    await stopServer(this.server, graceMs, () => {
      for (const socket of this.tunnels) socket.destroy();
    });
  }

  private accept(client: Socket): void {
    client.on('error', () => client.destroy());
    this.tunnels.add(client);
    client.once('close', () => this.tunnels.delete(client));
    const proxyHeaders = this.proxyHeaders;
    if (!proxyHeaders) return this.route(client, undefined, undefined);
    // An untrusted peer is served at once and screened as its bytes go through: it may be
    // waiting for the server to speak first.
    if (proxyHeaders.classify(client) === 'untrusted') return this.route(client, undefined, proxyHeaders);
    proxyHeaders.accept(client, (rest) => {
      client.pause();
      this.route(client, rest, undefined);
    });
  }

  /** `firstBytes`: read already (after a PROXY header); `screen`: an untrusted peer's bytes must not start with one. */
  private route(client: Socket, firstBytes: Buffer | undefined, screen: ProxyHeaderAcceptor | undefined): void {
    const routes = this.context.snapshot().entrypoints.get(this.name);
    if (routes?.sni) this.readClientHello(client, routes.sni, routes.tcp, firstBytes, screen);
    else if (routes?.tcp?.terminate) this.terminate(client, routes.tcp, firstBytes);
    else this.forward(client, routes?.tcp, new TcpPick(client, firstBytes, screen));
  }

  /** A client handshakes with the same terminator (certificates, strictSNI, metrics) as an https entrypoint's. */
  private terminator(config: EntrypointConfig): TlsTerminator | undefined {
    if (!config.tls) return undefined;
    const { tls, metrics, logger } = this.context;
    return new TlsTerminator(config.name, config.tls, config.timeouts.requestHeadersMs, tls, metrics, logger, (socket) => this.secured(socket));
  }

  /** `tls: terminate`: TLS takes `client` with the bytes read from it; `secured` relays what it decrypts. */
  private terminate(client: Socket, route: TcpRoute, bytes: Buffer | undefined): void {
    if (!this.tls) {
      this.context.logger.warn({ entrypoint: this.name, router: route.router }, 'TCP connection closed: the router terminates TLS, and the entrypoint has no tls certificates');
      client.destroy();
      return;
    }
    this.terminating.set(client, route);
    this.tls.accept(client, bytes);
  }

  /** A finished handshake: the decrypted socket is the client of the tunnel to its route's service. */
  private secured(socket: TLSSocket): void {
    const raw = rawSocketOf(socket);
    const route = raw && this.terminating.get(raw);
    if (!route) return void socket.destroy();
    socket.on('error', () => socket.destroy());
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
    this.forward(socket, route, new TcpPick(socket, undefined, undefined));
  }

  /**
   * Buffers what the client sends until it makes a whole ClientHello (in any number of segments),
   * within the entrypoint's `timeouts.requestHeaders`, then routes by its server name. A first
   * flight that is not a ClientHello goes to the fallback router as it is, as HAProxy's
   * `default_backend` and Traefik's `HostSNI(*)` take it; without a fallback it is closed.
   */
  private readClientHello(client: Socket, table: RouteTable<TcpRoute>, fallback: TcpRoute | undefined, firstBytes: Buffer | undefined, screen: ProxyHeaderAcceptor | undefined): void {
    let bytes: Buffer = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
      client.pause();
    };
    const reject = (reason: SniRejection, detail: string) => {
      done();
      this.context.metrics.tcpSniRejected.inc({ entrypoint: this.name, reason });
      this.context.logger.debug({ entrypoint: this.name, reason, client: client.remoteAddress }, `TCP connection closed before routing: ${detail}`);
      client.destroy();
    };
    const onData = (chunk: Buffer) => {
      bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
      if (screen && startsWithProxySignature(bytes) === true) {
        done();
        screen.reject(client, 'untrusted_source', untrustedHeader);
        return;
      }
      const hello = readClientHello(bytes);
      if (hello.status === 'incomplete') return;
      const route = hello.status === 'ok' ? table.lookup(hello.serverName ?? '', '/', {}) ?? fallback : fallback;
      if (!route) {
        if (hello.status === 'invalid') reject(hello.reason === 'not a TLS handshake' ? 'not_tls' : 'malformed', hello.reason);
        else if (hello.serverName === undefined) reject('no_sni', 'a ClientHello without a server name, and no fallback router');
        else reject('unknown_name', `no router for server name "${hello.serverName}", and no fallback router`);
        return;
      }
      done();
      if (route.terminate) this.terminate(client, route, bytes);
      else this.forward(client, route, new TcpPick(client, bytes, undefined));
    };
    const onEnd = () => reject('closed', 'the client closed before its ClientHello was complete');
    const timer = setTimeout(() => reject('timeout', `no complete ClientHello within ${this.config.timeouts.requestHeadersMs}ms`), this.config.timeouts.requestHeadersMs);
    client.once('close', () => clearTimeout(timer));
    client.on('data', onData);
    client.once('end', onEnd);
    if (firstBytes?.length) onData(firstBytes);
    if (!client.destroyed && client.listenerCount('data') > 0) client.resume();
  }

  /** Connects `client` to a server of `route`'s service. */
  private forward(client: Socket, route: TcpRoute | undefined, pick: TcpPick): void {
    if (!route) {
      this.context.logger.warn({ entrypoint: this.name }, 'TCP connection closed: no router for this entrypoint');
      client.destroy();
      return;
    }
    const backend = route.service.balancer.pick(pick);
    if (!backend) {
      this.context.logger.warn({ entrypoint: this.name, service: route.service.name }, 'TCP connection closed: no backend server is available');
      client.destroy();
      return;
    }
    this.dial(client, route.service, backend, pick, true);
  }

  private dial(client: Socket, service: ServicePool, backend: Backend, pick: TcpPick, mayRetry: boolean): void {
    const timeouts = service.config.timeouts;
    // Server to client: read into a reused buffer and written on at once (see ReadBuffer).
    const readBuffer = new ReadBuffer();
    // A TLS socket is done with each chunk once write() returns (Node's TLSWrap encrypts it at
    // once, or copies what it cannot encrypt yet), but its writes complete late: only a chunk
    // queued behind another write still needs the buffer. Else every read would take a new one.
    const copiesChunks = (client as TLSSocket).encrypted === true;
    const upstream = connect({
      host: backend.host,
      port: backend.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: {
        buffer: () => readBuffer.next(),
        callback: (bytes, buf) => {
          if (client.destroyed) return false;
          const flushed = client.write((buf as Buffer).subarray(0, bytes));
          if (client.writableLength > (copiesChunks ? bytes : 0)) readBuffer.keep();
          if (!flushed) {
            upstream.pause();
            client.once('drain', () => upstream.resume());
          }
          return true;
        },
      },
    });
    upstream.once('close', () => readBuffer.release());
    upstream.setTimeout(timeouts.connectMs);
    const onConnectTimeout = () => upstream.destroy(new ProxyError('connect_timeout'));
    upstream.once('timeout', onConnectTimeout);

    const onEarlyError = (err: Error) => {
      const error = classifyUpstreamError(err);
      this.context.metrics.observeError(service.name, error.kind);
      recordPassive(this.context.signals, service, backend, error.kind);
      // Nothing reached a server that refused or never accepted: another may take the tunnel.
      const next = mayRetry && (error.kind === 'connect_refused' || error.kind === 'connect_timeout') ? service.balancer.pick(pick, backend) : undefined;
      this.context.logger.warn(
        { entrypoint: this.name, service: service.name, backend: backend.id, code: error.code, retry: next?.id },
        `TCP connect failed: ${error.message}`,
      );
      if (next && !client.destroyed) this.dial(client, service, next, pick, false);
      else client.destroy();
    };
    upstream.once('error', onEarlyError);
    // A clean client close has already passed its FIN on; only an abrupt one
    // (reset, idle timeout) must tear the upstream down.
    client.once('close', () => {
      if (!client.readableEnded) upstream.destroy();
    });

    upstream.once('connect', () => {
      recordPassive(this.context.signals, service, backend, undefined);
      backend.traffic.observe(0, 0);
      this.context.metrics.observeTcpConnection(service.name);
      upstream.off('error', onEarlyError);
      upstream.off('timeout', onConnectTimeout);
      upstream.on('error', () => client.destroy());
      upstream.once('close', () => {
        if (!upstream.readableEnded) client.destroy();
      });
      const version = service.config.proxyProtocol;
      if (version) upstream.write(writeProxyHeader(version, connectionAddresses(client)));
      if (pick.firstBytes) upstream.write(pick.firstBytes);
      this.relay(client, upstream, service, backend, pick.screen);
    });
  }

  private relay(client: Socket, upstream: Socket, service: ServicePool, backend: Backend, screen: ProxyHeaderAcceptor | undefined): void {
    const { tcpConnections, tcpBytes } = this.context.metrics;
    const labels = { entrypoint: this.name, service: service.name };
    tcpConnections.cell(labels).value++;
    backend.inFlight++;
    // The connect timeout is over; idleness is the tunnel's own deadline from now on.
    upstream.setTimeout(0);
    const idle = new TunnelIdle(client, upstream, Math.min(this.config.timeouts.idleMs, service.config.timeouts.idleMs));
    const resumeClient = () => client.resume();
    const forward = (chunk: Buffer) => {
      if (upstream.write(chunk)) return;
      client.pause();
      upstream.once('drain', resumeClient);
    };
    if (screen) screenFirstBytes(client, upstream, screen, forward);
    else client.on('data', forward);
    // Each FIN is passed on while the other side may still send (half-close).
    client.once('end', () => passFin(upstream));
    upstream.once('end', () => passFin(client));
    client.resume();
    let closed = 0;
    const onClose = () => {
      if (++closed < 2) return;
      unwatch(idle);
      backend.inFlight--;
      tcpBytes.cell({ ...labels, direction: 'in' }).value += client.bytesRead;
      tcpBytes.cell({ ...labels, direction: 'out' }).value += upstream.bytesRead;
    };
    client.once('close', onClose);
    upstream.once('close', onClose);
  }
}

/**
 * A tunnel's idle timeout, looked at by the deadline ticker (proxy/deadlines.ts) rather than kept
 * by socket timeouts, which re-arm a timer on every read and write of both sockets (the HTTP path
 * dropped them for that cost). A tunnel whose sockets read nothing for `idleMs` is closed: between
 * 1 and 1.25 times `idleMs` after its last byte, since a tunnel that moves is looked at again a
 * quarter of the timeout later.
 */
class TunnelIdle implements Timed {
  deadline: number;
  private seen: number;
  private quietSince = performance.now();

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly idleMs: number,
  ) {
    this.seen = this.bytes();
    this.deadline = this.quietSince + idleMs;
    watch(this);
  }

  private bytes(): number {
    return this.client.bytesRead + this.upstream.bytesRead;
  }

  expired(): void {
    const now = performance.now();
    const bytes = this.bytes();
    if (bytes !== this.seen) {
      this.seen = bytes;
      this.quietSince = now;
      this.deadline = now + this.idleMs / 4;
      return;
    }
    if (now - this.quietSince < this.idleMs) {
      this.deadline = this.quietSince + this.idleMs;
      return;
    }
    unwatch(this);
    this.client.destroy();
    this.upstream.destroy();
  }
}
