// Accepting the PROXY protocol on an entrypoint (`proxyProtocol.trustedIPs`), as HAProxy's
// `accept-proxy` does: a connection from a trusted source must start with a v1 or v2 header, whose
// source address then stands for the client everywhere; a header from any other source is refused.
import type { Socket } from 'node:net';
import type { EntrypointConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DataPlaneContext } from './context.js';
import { clientAddress, TrustedProxies } from './http/headers.js';
import { readProxyHeader, startsWithProxySignature, type ProxiedAddresses } from './proxy-protocol.js';
import { rawSocketOf } from '../tls/terminator.js';

/** Why a connection was closed before its first byte reached routing (lb_proxy_protocol_rejected_total). */
export type ProxyRejection = 'untrusted_source' | 'missing' | 'malformed' | 'truncated' | 'timeout';

export const untrustedHeader = 'a PROXY header from a source not in proxyProtocol.trustedIPs';

/** The addresses that connections' PROXY headers gave, by client socket. */
const proxied = new WeakMap<Socket, ProxiedAddresses>();

/** The header a connection came with. A TLS socket that lb terminated stands on the raw connection the header was read from. */
function proxiedOf(socket: Socket): ProxiedAddresses | undefined {
  const parent = rawSocketOf(socket);
  return proxied.get(socket) ?? (parent ? proxied.get(parent) : undefined);
}

/** The client's address as lb logs, matches and forwards it: a PROXY header's source, else the peer's. */
export function peerAddress(socket: Socket): string {
  const addresses = proxiedOf(socket);
  return addresses ? clientAddress(addresses.source.address) : clientAddress(socket.remoteAddress);
}

/**
 * Both ends of a client connection as the client saw them, for the PROXY header lb sends on: those
 * of the header it came with (so that a chain of proxies passes the original ones on, as HAProxy
 * does), else the socket's own, the entrypoint's address being the destination.
 */
export function connectionAddresses(socket: Socket): ProxiedAddresses {
  return (
    proxiedOf(socket) ?? {
      source: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      destination: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
    }
  );
}

/**
 * Reads or screens the first bytes of each connection of one entrypoint. Only entrypoints with
 * `proxyProtocol` have one; the others hand their connections on untouched.
 */
export class ProxyHeaderAcceptor {
  private readonly trusted: TrustedProxies;
  /** Connections still before their first routed byte, closed at once when the entrypoint stops. */
  private readonly pending = new Set<Socket>();

  constructor(
    private readonly entrypoint: string,
    trustedIPs: readonly string[],
    /** How long a trusted peer has for its header (timeouts.requestHeaders). */
    private readonly headerMs: number,
    /** How long anyone else may stay silent (timeouts.idle, as for an idle keep-alive connection). */
    private readonly idleMs: number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.trusted = new TrustedProxies(trustedIPs);
  }

  /**
   * Whether this connection's peer must send a PROXY header; `gone` when its address is unknown
   * (it left before lb looked: a worker may get a connection late).
   */
  classify(socket: Socket): 'trusted' | 'untrusted' | 'gone' {
    const peer = socket.remoteAddress;
    if (peer === undefined) return 'gone';
    return this.trusted.trusts(clientAddress(peer)) ? 'trusted' : 'untrusted';
  }

  /**
   * Waits for the connection's first bytes: from a trusted peer a whole PROXY header, from any
   * other enough to see that no header starts there. `proceed` gets the client's own bytes read so
   * far (after the header), in the same call as the read, so a listener it adds misses nothing; a
   * connection that fails is closed and counted instead.
   */
  accept(socket: Socket, proceed: (rest: Buffer | undefined) => void): void {
    const peer = this.classify(socket);
    if (peer === 'gone') return void socket.destroy();
    const trusted = peer === 'trusted';
    let bytes: Buffer | undefined;
    this.pending.add(socket);
    const finish = () => {
      clearTimeout(timer);
      this.pending.delete(socket);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', finish);
      socket.off('error', noop);
    };
    const reject = (reason: ProxyRejection, detail: string) => {
      finish();
      this.reject(socket, reason, detail);
    };
    const onData = (chunk: Buffer) => {
      bytes = bytes ? Buffer.concat([bytes, chunk]) : chunk;
      if (!trusted) {
        const signature = startsWithProxySignature(bytes);
        if (signature === undefined) return;
        if (signature) return reject('untrusted_source', untrustedHeader);
        finish();
        return proceed(bytes);
      }
      const header = readProxyHeader(bytes);
      if (header.status === 'incomplete') return;
      if (header.status === 'invalid') return reject(header.fault, header.reason);
      finish();
      if (header.addresses) proxied.set(socket, header.addresses);
      proceed(bytes.length > header.length ? bytes.subarray(header.length) : undefined);
    };
    // A peer that leaves before sending anything (a plain connect check) was refused nothing.
    const onEnd = () => (bytes ? reject('truncated', 'the connection ended inside the PROXY header') : (finish(), socket.destroy()));
    // A silent client that may send no header is an idle connection, closed as the fast path would close it.
    const timeoutMs = trusted ? this.headerMs : this.idleMs;
    const onTimeout = () => (trusted || bytes ? reject('timeout', `no complete ${trusted ? 'PROXY header' : 'first bytes'} within ${timeoutMs}ms`) : (finish(), socket.destroy()));
    const timer = setTimeout(onTimeout, timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', finish);
    socket.on('error', noop);
    // A TCP entrypoint's sockets start paused.
    socket.resume();
  }

  /**
   * Closes a connection whose first bytes turned out to carry a PROXY header from an untrusted
   * peer (a TCP connection screened as its bytes are relayed).
   */
  reject(socket: Socket, reason: ProxyRejection, detail: string): void {
    this.metrics.proxyProtocolRejected.labels(this.entrypoint, reason).inc();
    this.logger.debug({ entrypoint: this.entrypoint, client: clientAddress(socket.remoteAddress), reason }, `connection closed: ${detail}`);
    socket.destroy();
  }

  /** The entrypoint stops: connections that have not begun are closed now. */
  closePending(): void {
    for (const socket of this.pending) socket.destroy();
  }
}

/** What reads the PROXY headers of an entrypoint with `proxyProtocol`; undefined for the others. */
export function proxyHeaderAcceptor(config: EntrypointConfig, context: DataPlaneContext): ProxyHeaderAcceptor | undefined {
  const settings = config.proxyProtocol;
  return settings && new ProxyHeaderAcceptor(config.name, settings.trustedIPs, config.timeouts.requestHeadersMs, config.timeouts.idleMs, context.metrics, context.logger);
}

function noop(): void {}
