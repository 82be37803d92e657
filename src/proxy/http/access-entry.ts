import type { Backend } from '../../balancer/index.js';
import type { HttpRoute } from '../../control/snapshot.js';
import type { ProxyError, Termination } from '../../errors.js';
import type { AccessEntry } from '../../metrics/access-log.js';
import type { ClientRequest } from './client.js';

/** One access-log entry, for a proxied request or an upgrade (the query string is left out of the path). */
export function accessEntry(req: Pick<ClientRequest, 'clientIp' | 'method' | 'host' | 'url' | 'tls'>, status: number, seconds: number, route: HttpRoute | undefined, backend: Backend | undefined, retries: number, bytesIn: number, bytesOut: number, error: ProxyError | undefined, termination: Termination, user?: string): AccessEntry {
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
    termination,
    error: error?.kind,
    tls: req.tls?.version,
    tlsClientSubject: req.tls?.clientSubject,
    ...(user !== undefined ? { user } : {}),
  };
}
