// The answers to pending ACME challenges, as the data plane holds them: http-01 key
// authorizations by token, and tls-alpn-01 certificates by host. The control plane (AcmeManager)
// decides them; with `workers: N` each worker gets a copy over IPC (cluster/messages.ts).
import { createSecureContext, type SecureContext } from 'node:tls';
import { readClientHello } from '../client-hello.js';

/** RFC 8737: the ALPN protocol a validation server offers, and the only one it accepts. */
export const acmeTlsAlpnProtocol = 'acme-tls/1';
/** RFC 8555 §8.3: where an http-01 validation server asks for the key authorization. */
const http01PathPrefix = '/.well-known/acme-challenge/';

/** Every pending challenge, as it travels to the data plane. */
export interface ChallengeSet {
  /** [token, key authorization] */
  http01: Array<[string, string]>;
  /** [host, certificate PEM, key PEM] of the self-signed acmeIdentifier certificate. */
  tlsAlpn01: Array<[string, string, string]>;
}

export class AcmeChallenges {
  private http01 = new Map<string, string>();
  private tlsAlpn01 = new Map<string, SecureContext>();

  get hasTlsAlpn01(): boolean {
    return this.tlsAlpn01.size > 0;
  }

  get size(): number {
    return this.http01.size + this.tlsAlpn01.size;
  }

  replace(set: ChallengeSet): void {
    this.http01 = new Map(set.http01);
    this.tlsAlpn01 = new Map(set.tlsAlpn01.map(([host, cert, key]) => [host, createSecureContext({ cert, key, minVersion: 'TLSv1.2' })]));
  }

  /** The key authorization to answer for a request target, if it asks for a pending http-01 token. */
  http01Answer(url: string): string | undefined {
    if (this.http01.size === 0 || !url.startsWith(http01PathPrefix)) return undefined;
    return this.http01.get(url.slice(http01PathPrefix.length));
  }

  /**
   * For the first bytes of a TLS connection: the challenge certificate's context when the
   * ClientHello asks for `acme-tls/1` and names a host with a pending tls-alpn-01 challenge (the
   * handshake must then offer only `acme-tls/1`), else undefined: a normal handshake follows.
   */
  tlsAlpn01Context(clientHello: Buffer): SecureContext | undefined {
    if (this.tlsAlpn01.size === 0) return undefined;
    const hello = readClientHello(clientHello);
    if (hello.status !== 'ok' || !hello.serverName || !hello.alpn.includes(acmeTlsAlpnProtocol)) return undefined;
    return this.tlsAlpn01.get(hello.serverName.toLowerCase());
  }
}
