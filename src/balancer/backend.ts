import type { ServerConfig } from '../config/types.js';
import { ServerTraffic } from '../metrics/traffic.js';

/**
 * One server of a service as the data plane sees it. The control loop keeps the same object
 * across snapshots while the server stays in the pool, so `inFlight` survives a reload.
 */
export class Backend {
  /** `host:port`, the label value used in metrics and the admin API. */
  readonly id: string;
  /** `http://host:port` (or https), the key of the keep-alive pool to this server. */
  readonly origin: string;
  readonly scheme: ServerConfig['scheme'];
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Requests or tunnels currently open to this server; read by least_request. */
  inFlight = 0;
  /** Gateway failures in a row, for passive outlier detection; reset by any success. */
  consecutiveFailures = 0;
  /** What the dashboard shows of this server's traffic in this process. */
  readonly traffic = new ServerTraffic();

  constructor(server: ServerConfig) {
    this.scheme = server.scheme;
    this.host = server.host;
    this.port = server.port;
    this.weight = server.weight;
    const hostText = server.host.includes(':') ? `[${server.host}]` : server.host;
    this.id = `${hostText}:${server.port}`;
    this.origin = `${server.scheme === 'tcp' ? 'tcp' : server.scheme}://${this.id}`;
  }
}

/**
 * One server within one service: the key of its health state, and of its in-flight sum across
 * workers. The same server in two services is two keys.
 */
export type ServerKey = string & { readonly __serverKey: never };

/** `server`: the server's origin, or its id, whichever the map uses throughout. */
export function serverKey(service: string, server: string): ServerKey {
  return `${service}\0${server}` as ServerKey;
}

/** What a balancer may look at to choose a server. */
export interface PickContext {
  clientIp: string;
  /** Lower-case request headers (HTTP only). */
  headers?: Record<string, string | string[] | undefined>;
}

/** What a balancer chooses among: servers, or for a weighted service, services. */
export interface Choice {
  readonly id: string;
  readonly weight: number;
}

export interface Balancer<T extends Choice = Backend> {
  readonly backends: readonly T[];
  /** A server for this request or connection, never `exclude`; undefined when none is usable. */
  pick(context: PickContext, exclude?: T): T | undefined;
  /** A Set-Cookie value that pins the client to `backend`, for balancers that pin. */
  affinityCookie?(context: PickContext, backend: T): string | undefined;
}

export function usable<T extends Choice>(backend: T, exclude: T | undefined): boolean {
  return backend.weight > 0 && backend !== exclude;
}
