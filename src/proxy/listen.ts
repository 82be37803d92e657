import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { HostPort } from '../config/types.js';
import { ListenError } from '../errors.js';

type AnyServer = NetServer | HttpServer;

/**
 * Binds `server`. `reusePort`: a socket of its own with SO_REUSEPORT, so that the kernel spreads
 * connections between the workers that bind the same port (Node 22.12 and later), instead of
 * the socket cluster shares from the primary.
 */
export function listenOn(server: AnyServer, address: HostPort, what: string, reusePort = false): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new ListenError(what, address.text, err));
    server.once('error', onError);
    const own = reusePort && address.port !== 0;
    server.listen({ host: address.host, port: address.port, ...(own ? { reusePort: true, exclusive: true } : {}) }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops accepting, lets open work finish for up to `graceMs`, then closes what is left.
 * `forceClose` ends connections the server no longer tracks (upgraded sockets, tunnels).
 */
export async function stopServer(server: AnyServer, graceMs: number, forceClose: () => void): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections are closed as soon as they fall idle, not only those idle right now.
  const sweep = 'closeIdleConnections' in server ? setInterval(() => server.closeIdleConnections(), 50) : undefined;
  if ('closeIdleConnections' in server) server.closeIdleConnections();
  const timer = new AbortController();
  const expired = delay(graceMs, 'expired', { signal: timer.signal }).catch(() => 'cancelled');
  const outcome = await Promise.race([closed.then(() => 'closed'), expired]);
  timer.abort();
  clearInterval(sweep);
  if (outcome === 'expired') {
    if ('closeAllConnections' in server) server.closeAllConnections();
    forceClose();
    await closed;
  }
}
