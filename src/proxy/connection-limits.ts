// How many client connections lb holds open: per entrypoint (`maxConnections`), per peer address
// (`maxConnectionsPerIP`), and in all for this process, a budget derived from its open-file limit
// so that overload is refused before EMFILE (HAProxy's global maxconn, derived from ulimit -n the
// same way). Node 20's net.Server cannot stop accepting, so a connection above a limit is accepted
// and closed at once (HTTP: a 503 first, which costs one write), and counted by reason.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { EntrypointConfig } from '../config/types.js';
import type { CounterCell } from '../metrics/cells.js';
import type { Metrics } from '../metrics/metrics.js';

/** File descriptors kept for what is not a client connection: servers' health checks, the admin API, Docker, files. */
const reservedDescriptors = 128;

export type ConnectionRefusal = 'max_connections' | 'max_connections_per_ip' | 'process_budget';

/** Soft RLIMIT_NOFILE, from /proc/self/limits (Node has no getrlimit); undefined where it cannot be read. */
function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line && line[1] !== 'unlimited' ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Client connections this process can hold: each may need a server connection too, beside the reserve. */
export function connectionBudget(limit = openFileLimit()): number {
  return limit === undefined ? Number.MAX_SAFE_INTEGER : Math.max(16, Math.floor((limit - reservedDescriptors) / 2));
}

const refusedBody = '503 Service Unavailable: too many connections\n';
const refusedResponse = Buffer.from(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ${refusedBody.length}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n${refusedBody}`);

export class ConnectionLimits {
  private open = 0;
  /** entrypoint → peer address → connections open */
  private readonly perPeer = new Map<string, Map<string, number>>();
  private readonly refusals = new Map<string, CounterCell>();

  constructor(
    private readonly metrics: Metrics,
    readonly budget = connectionBudget(),
  ) {}

  /**
   * Counts `socket` against the limits of `entrypoint` (its open connections are `open`), or
   * refuses it: closed at once, after a 503 on a plain HTTP entrypoint. True when admitted.
   */
  admit(socket: Socket, entrypoint: EntrypointConfig, open: CounterCell): boolean {
    const perIp = entrypoint.maxConnectionsPerIP;
    const peers = perIp === undefined ? undefined : this.peersOf(entrypoint.name);
    const peer = peers ? socket.remoteAddress ?? '' : '';
    const reason: ConnectionRefusal | undefined =
      this.open >= this.budget ? 'process_budget'
      : entrypoint.maxConnections !== undefined && open.value >= entrypoint.maxConnections ? 'max_connections'
      : peers && (peers.get(peer) ?? 0) >= perIp! ? 'max_connections_per_ip'
      : undefined;
    if (reason) {
      this.refused(entrypoint.name, reason).value++;
      socket.on('error', () => socket.destroy());
      if (entrypoint.protocol !== 'http') {
        socket.destroy();
        return false;
      }
      // Ended, not destroyed: a close with the client's request unread would reset the 503 away.
      // What the client sends is read and dropped (its FIN too, which ends the socket), for a
      // second at most.
      socket.end(refusedResponse);
      socket.resume();
      setTimeout(() => socket.destroy(), 1000).unref();
      return false;
    }
    this.open++;
    open.value++;
    if (peers) peers.set(peer, (peers.get(peer) ?? 0) + 1);
    socket.once('close', () => {
      this.open--;
      open.value--;
      if (!peers) return;
      const left = (peers.get(peer) ?? 1) - 1;
      if (left === 0) peers.delete(peer);
      else peers.set(peer, left);
    });
    return true;
  }

  private peersOf(entrypoint: string): Map<string, number> {
    let peers = this.perPeer.get(entrypoint);
    if (!peers) this.perPeer.set(entrypoint, (peers = new Map()));
    return peers;
  }

  private refused(entrypoint: string, reason: ConnectionRefusal): CounterCell {
    const key = `${entrypoint}\0${reason}`;
    let cell = this.refusals.get(key);
    if (!cell) this.refusals.set(key, (cell = this.metrics.connectionsRefused.cell({ entrypoint, reason })));
    return cell;
  }
}
