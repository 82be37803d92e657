// How lb connects to `https://` servers, from a service's `tls` settings. The data plane, WebSocket
// upgrades and active health checks all take their options from here, so that a server a check
// calls healthy is one that requests can reach (and a certificate lb refuses fails the check too).
import { createHash } from 'node:crypto';
import { connect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import { connect as connectTls, createSecureContext, type ConnectionOptions } from 'node:tls';
import type { UpstreamTlsConfig } from '../config/types.js';

interface Prepared {
  /** Tells connections with different trust apart (pools are keyed by it). */
  readonly key: string;
  readonly options: ConnectionOptions;
}

/**
 * One secure context per CA, made once: `ca` given to each tls.connect would parse the PEM on
 * every connection. Keyed by the settings object, which lives as long as its config.
 */
const prepared = new WeakMap<UpstreamTlsConfig, Prepared>();

function prepare(tls: UpstreamTlsConfig): Prepared {
  let found = prepared.get(tls);
  if (!found) {
    const ca = tls.ca === undefined ? '' : createHash('sha256').update(tls.ca).digest('hex').slice(0, 16);
    found = {
      key: `${ca}|${tls.serverName ?? ''}|${tls.insecureSkipVerify ? 'insecure' : 'verify'}`,
      options: {
        ...(tls.ca !== undefined ? { secureContext: createSecureContext({ ca: tls.ca }) } : {}),
        rejectUnauthorized: !tls.insecureSkipVerify,
      },
    };
    prepared.set(tls, found);
  }
  return found;
}

/** A key that differs when two services would verify the same server differently. */
export function upstreamTlsKey(tls: UpstreamTlsConfig): string {
  return prepare(tls).key;
}

/**
 * The options of a TLS connection to `host`: the CAs (the system's unless `caFile`), whether the
 * certificate must verify, and the name sent as SNI and checked in the certificate (`serverName`,
 * else the host when it is a name, not an IP address).
 */
export function upstreamTlsOptions(tls: UpstreamTlsConfig, host: string): ConnectionOptions {
  const servername = tls.serverName ?? (isIP(host) ? undefined : host);
  return { ...prepare(tls).options, ...(servername !== undefined ? { servername } : {}) };
}

/**
 * A connection to a server: `prefix` (a PROXY protocol header) first on the TCP connection, then
 * TLS over it with `tls` (https:// servers), as HAProxy's `server ... send-proxy ssl` does. The
 * same code whether or not either is there, for requests, upgrades and health checks alike.
 */
export function connectUpstream(tcp: NetConnectOpts, tls: ConnectionOptions | undefined, prefix: Buffer | undefined): Socket {
  const socket = connect(tcp);
  // Written while connecting, it goes out first, before the ClientHello or the request.
  if (prefix) socket.write(prefix);
  return tls ? connectTls({ ...tls, socket }) : socket;
}
