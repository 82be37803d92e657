// TLS termination for an https entrypoint, or a tcp one with routers that terminate: the secure
// contexts (one per certificate, chosen by SNI), the defaults a scanner approves of, client
// certificates, strictSNI, and the accounting of every handshake. The decrypted socket goes to the
// same code as a plain one: HTTP/1.1, or the TCP relay.
import { constants, createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { EntrypointTlsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { CounterCell } from '../metrics/cells.js';
import type { Metrics } from '../metrics/metrics.js';
import { acmeTlsAlpnProtocol, type AcmeChallenges } from './acme/challenges.js';
import { readClientHello } from './client-hello.js';
import { formatSubject, type Certificate } from './certificates.js';
import { NameSelector } from './sni.js';
import { TicketKeyRing, type EntrypointTls, type TlsSource, type TlsState } from './state.js';

/** TLS 1.3 suites, then TLS 1.2's forward-secret AEAD ciphers (Mozilla's "intermediate" profile). */
const cipherSuites = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Key exchange groups, as Mozilla's intermediate profile lists them. */
const groups = 'X25519:P-256:P-384';

/** How long a session (its ticket) may be resumed: no longer than a ticket key decrypts. */
const sessionTimeoutSeconds = 12 * 3600;

/** A fatal TLS alert, unrecognized_name (RFC 6066 §3), in a TLS 1.2 record. */
const unrecognizedNameAlert = Buffer.from([21, 3, 3, 0, 2, 2, 112]);

/** What a request knows of the TLS connection it came on. */
export interface TlsInfo {
  /** `TLSv1.2` or `TLSv1.3`. */
  readonly version: string;
  /** The verified client certificate's subject (`CN=...,O=...`), with clientAuth. */
  readonly clientSubject: string | undefined;
}

const tlsInfo = new WeakMap<object, TlsInfo>();

/** The raw connection under a TLS socket that lb terminated: Node keeps it as the TLS socket's `_parent`. */
export function rawSocketOf(socket: Socket): Socket | undefined {
  return (socket as { _parent?: Socket | null })._parent ?? undefined;
}

/** The TLS facts of a decrypted connection (undefined: a plain one). */
export function tlsInfoOf(socket: object): TlsInfo | undefined {
  return tlsInfo.get(socket);
}

/** Why a handshake failed, as the `result` label says it. */
export type HandshakeFailure = 'unknown_sni' | 'protocol_error' | 'unsupported_version' | 'no_shared_cipher' | 'client_certificate' | 'certificate_rejected' | 'timeout' | 'closed';

/** Maps the error of a failed handshake onto a reason. */
function handshakeFailure(err: NodeJS.ErrnoException, socket: { authorizationError?: unknown }): HandshakeFailure {
  const code = err.code ?? '';
  if (socket.authorizationError) return 'client_certificate';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'closed';
  if (code === 'ERR_SSL_NO_SHARED_CIPHER' || code === 'ERR_SSL_NO_SHARED_SIGNATURE_ALGORITHMS' || code === 'ERR_SSL_NO_SUITABLE_KEY_SHARE') return 'no_shared_cipher';
  if (code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || code === 'ERR_SSL_VERSION_TOO_LOW' || code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || code === 'ERR_SSL_UNKNOWN_PROTOCOL') return 'unsupported_version';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' || code === 'ERR_SSL_CERTIFICATE_VERIFY_FAILED') return 'client_certificate';
  // The client refused lb's certificate (not trusted, wrong name, expired).
  if (/^ERR_SSL_(SSLV3|TLSV1)_ALERT_(BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE)$/.test(code)) return 'certificate_rejected';
  return 'protocol_error';
}

/** The TLS options of one certificate's server: the same for every certificate of an entrypoint but the certificate. */
function tlsServerOptions(
  certificate: Pick<Certificate, 'cert' | 'key'> | undefined,
  material: Pick<EntrypointTls, 'clientCa'>,
  settings: Pick<EntrypointTlsConfig, 'minVersion' | 'clientAuth'>,
  ticketKeys: TicketKeyRing,
  sessionIdContext: string,
): SecureContextOptions {
  return {
    ...(certificate ? { cert: certificate.cert, key: certificate.key } : {}),
    minVersion: settings.minVersion,
    maxVersion: 'TLSv1.3',
    ciphers: cipherSuites,
    ecdhCurve: groups,
    // Every cipher offered is strong: the client picks (mobile clients prefer ChaCha20).
    honorCipherOrder: false,
    // Node accepts a client's renegotiation (up to 3 in 10 minutes) unless told otherwise.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
    sessionIdContext,
    sessionTimeout: sessionTimeoutSeconds,
    ...(settings.clientAuth ? { ca: [...material.clientCa] } : {}),
    ...ticketKeys.contextOptions(),
  };
}

/**
 * Terminates TLS on the raw sockets it is given (`accept`), for one https entrypoint or one tcp
 * entrypoint with routers that terminate, and hands each decrypted socket to `secure`.
 *
 * Each certificate has a TLS server of its own (Node's tls.Server, never listening: only its
 * handshake). A socket goes to the server whose certificate covers the server name of its
 * ClientHello, read before TLS starts (exact name, then wildcard, then the first certificate: see
 * NameSelector); that is also where strictSNI answers a name no certificate covers with an
 * unrecognized_name alert, which Node's own SNICallback cannot send. (Node's SNICallback also adds
 * the chosen certificate beside the default one instead of replacing it, so with an ECDSA default
 * and an RSA certificate for a name, a TLS 1.3 client got the default.) With one certificate and
 * no strictSNI the ClientHello is not read: the socket goes to TLS at once.
 *
 * The servers are rebuilt from the control plane's TlsState when its certificates or ticket keys
 * change, and from the settings at a reload: new handshakes use them, open connections keep
 * theirs. Every handshake is counted in lb_tls_handshakes_total.
 */
export class TlsTerminator {
  private settings: EntrypointTlsConfig;
  private handshakeTimeoutMs: number;
  private material: EntrypointTls | undefined;
  private ticketRevision = -1;
  private readonly ring = new TicketKeyRing();
  private readonly sessionIdContext: string;
  /** One per certificate, in order (one without a certificate when there is none). */
  private servers: TlsServer[] = [];
  private selector: NameSelector<TlsServer> = new NameSelector([]);
  private readonly unsubscribe: () => void;
  /** Connections still in their handshake (or before it): closed with the entrypoint. */
  private readonly handshaking = new Set<Socket>();
  private readonly results = new Map<string, CounterCell>();

  constructor(
    private readonly entrypoint: string,
    settings: EntrypointTlsConfig,
    handshakeTimeoutMs: number,
    private readonly source: TlsSource,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly secure: (socket: TLSSocket, info: TlsInfo) => void,
    /**
     * Set when the decrypted stream is HTTP/1.1 (https entrypoints): the handshake offers ALPN
     * `http/1.1`, a client's FIN closes the connection, and pending ACME challenges (the data
     * plane's) answer tls-alpn-01 validations on this port; with `http2`, ALPN offers `h2` first.
     * Absent: a byte stream (tcp
     * entrypoints), with no ALPN, and half-closes kept after the handshake.
     */
    private readonly http?: { challenges: () => AcmeChallenges | undefined; http2: boolean },
  ) {
    this.settings = settings;
    this.handshakeTimeoutMs = handshakeTimeoutMs;
    this.sessionIdContext = createHash('sha256').update(`lb entrypoint ${entrypoint}`).digest('hex').slice(0, 32);
    this.build(source.tls);
    this.unsubscribe = source.subscribe((state) => this.apply(state));
  }

  /**
   * A new client connection, still raw. `read`: bytes already read from it (after a PROXY
   * header), with which the ClientHello begins; such a connection's ClientHello is always read.
   */
  accept(raw: Socket, read?: Buffer): void {
    // Not half-open, as on Node's own https server: a client that ends its side closes the
    // connection, in its handshake too (the TLS socket takes this from the raw one). The http
    // server, which makes its sockets half-open, then ends the request as it does on a half-close;
    // a byte stream is made half-open again once its handshake is done (onSecure).
    raw.allowHalfOpen = false;
    this.handshaking.add(raw);
    raw.once('close', () => this.handshaking.delete(raw));
    // The ClientHello is read only when a certificate depends on it: several certificates,
    // strictSNI, or a tls-alpn-01 validation in progress.
    if (read === undefined && this.servers.length === 1 && !this.settings.strictSNI && !this.http?.challenges()?.hasTlsAlpn01) this.servers[0]!.emit('connection', raw);
    else this.readHello(raw, read);
  }

  /** New settings for the same listener (a reload). */
  update(settings: EntrypointTlsConfig, handshakeTimeoutMs: number): void {
    this.settings = settings;
    this.handshakeTimeoutMs = handshakeTimeoutMs;
    this.build(this.source.tls, true);
  }

  /** Stops following the control plane. */
  close(): void {
    this.unsubscribe();
  }

  /** Closes the connections still in their handshake (a forced shutdown). */
  destroyHandshaking(): void {
    for (const socket of this.handshaking) socket.destroy();
  }

  private apply(state: TlsState): void {
    const material = state.entrypoints.get(this.entrypoint);
    if (material === undefined || (material.revision === this.material?.revision && state.ticketRevision === this.ticketRevision)) return;
    this.build(state);
  }

  private build(state: TlsState, force = false): void {
    const material = state.entrypoints.get(this.entrypoint) ?? this.material ?? { revision: 0, certificates: [], clientCa: [] };
    if (!force && material === this.material && state.ticketRevision === this.ticketRevision) return;
    this.material = material;
    this.ticketRevision = state.ticketRevision;
    this.ring.set(state.ticketKeys);
    if (material.certificates.length === 0) this.logger.warn({ entrypoint: this.entrypoint }, 'TLS entrypoint has no certificate yet: handshakes fail until one is provided');
    const certificates = material.certificates.length ? material.certificates : [undefined];
    // Servers are reused (their contexts replaced), so that a change costs no new objects; those
    // left over keep serving the handshakes they started.
    const servers = certificates.map((certificate, i) => {
      const options = tlsServerOptions(certificate, material, this.settings, this.ring, this.sessionIdContext);
      const existing = this.servers[i];
      const server = existing ?? this.newServer(options);
      if (existing) server.setSecureContext(options);
      server.requestCert = this.settings.clientAuth !== undefined;
      // verify_if_given: a client without a certificate is let in, one with a bad certificate is refused in onSecure.
      server.rejectUnauthorized = this.settings.clientAuth?.mode === 'require';
      setHandshakeTimeout(server, this.handshakeTimeoutMs);
      const own = (server as unknown as { _sharedCreds?: SecureContext })._sharedCreds;
      if (own) this.ring.install(own);
      return server;
    });
    this.servers = servers;
    this.selector = new NameSelector(material.certificates.map((certificate, i) => ({ names: certificate.names, value: servers[i]! })));
  }

  private newServer(options: SecureContextOptions): TlsServer {
    const server = createTlsServer({ ...options, ...(this.http ? { ALPNProtocols: this.http.http2 ? ['h2', 'http/1.1'] : ['http/1.1'] } : {}), handshakeTimeout: this.handshakeTimeoutMs }) as TlsServer;
    server.on('secureConnection', (socket: TLSSocket) => this.onSecure(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const reason = handshakeFailure(err, socket);
      const version = reason === 'no_shared_cipher' || reason === 'unsupported_version' || reason === 'client_certificate' ? socket.getProtocol?.() ?? 'unknown' : 'unknown';
      this.count(version, reason);
      this.logger.debug({ entrypoint: this.entrypoint, reason, code: err.code, client: socket.remoteAddress }, 'TLS handshake failed');
      socket.destroy();
    });
    return server;
  }

  /** A finished handshake: client certificate checks, then its facts. */
  private onSecure(socket: TLSSocket): void {
    const version = socket.getProtocol() ?? 'unknown';
    let clientSubject: string | undefined;
    if (this.settings.clientAuth) {
      const peer = socket.getPeerX509Certificate();
      if (peer && !socket.authorized) {
        // verify_if_given: a certificate that was sent must be valid.
        this.count(version, 'client_certificate');
        this.logger.debug({ entrypoint: this.entrypoint, reason: socket.authorizationError, client: socket.remoteAddress }, 'TLS client certificate refused');
        socket.destroy();
        return;
      }
      if (peer) clientSubject = formatSubject(peer.subject);
    }
    this.count(version, 'success');
    // A TCP client may end its side and still read the server's answer, as on a plain tunnel.
    if (!this.http) socket.allowHalfOpen = true;
    const info: TlsInfo = { version, clientSubject };
    tlsInfo.set(socket, info);
    this.secure(socket, info);
  }

  /**
   * An ACME tls-alpn-01 validation (RFC 8737): the handshake offers only `acme-tls/1`, with the
   * challenge certificate, and the connection closes once it is done; nothing is routed.
   */
  private answerTlsAlpn01(raw: Socket, bytes: Buffer, secureContext: SecureContext): void {
    raw.pause();
    raw.unshift(bytes);
    const socket = new TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: [acmeTlsAlpnProtocol] });
    socket.on('error', () => socket.destroy());
    socket.once('secure', () => {
      this.logger.debug({ entrypoint: this.entrypoint, client: raw.remoteAddress }, 'ACME tls-alpn-01 validation answered');
      socket.end();
    });
  }

  /**
   * Reads the ClientHello before TLS starts and hands the socket, with the bytes read, to the
   * server of the certificate for its name. Under strictSNI, a name that no certificate covers
   * gets an unrecognized_name alert. A ClientHello that cannot be read goes to TLS as it is, which
   * refuses it.
   */
  private readHello(raw: Socket, read: Buffer | undefined): void {
    let bytes: Buffer | undefined;
    let settled = false;
    const done = () => {
      settled = true;
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      bytes = bytes ? Buffer.concat([bytes, chunk]) : chunk;
      const hello = readClientHello(bytes);
      if (hello.status === 'incomplete') return;
      done();
      const challenge = this.http?.challenges()?.tlsAlpn01Context(bytes);
      if (challenge) return this.answerTlsAlpn01(raw, bytes, challenge);
      const serverName = hello.status === 'ok' ? hello.serverName : undefined;
      if (serverName !== undefined && this.settings.strictSNI && !this.selector.covers(serverName)) {
        this.count('unknown', 'unknown_sni');
        this.logger.debug({ entrypoint: this.entrypoint, serverName, client: raw.remoteAddress }, 'TLS handshake refused: no certificate for this name (strictSNI)');
        raw.end(unrecognizedNameAlert);
        setTimeout(() => raw.destroy(), 1000).unref();
        return;
      }
      raw.pause();
      raw.unshift(bytes);
      (this.selector.select(serverName) ?? this.servers[0]!).emit('connection', raw);
    };
    const onClose = () => {
      done();
      this.count('unknown', 'closed');
    };
    const timer = setTimeout(() => {
      done();
      this.count('unknown', 'timeout');
      raw.destroy();
    }, this.handshakeTimeoutMs);
    raw.on('data', onData);
    raw.on('error', () => undefined);
    raw.once('close', onClose);
    if (read?.length) onData(read);
    // A connection handed over paused (after a PROXY header) flows again until its ClientHello is in.
    if (!settled) raw.resume();
  }

  private count(version: string, result: string): void {
    const key = `${version}|${result}`;
    let cell = this.results.get(key);
    if (!cell) this.results.set(key, (cell = this.metrics.tlsHandshakes.cell({ entrypoint: this.entrypoint, version, result })));
    cell.value++;
  }
}

/** Node's tls.Server, with the fields it reads for each new connection. */
type TlsServer = ReturnType<typeof createTlsServer> & { requestCert: boolean; rejectUnauthorized: boolean };

/** Node keeps the handshake timeout of new connections under a symbol; a reload that changes it sets it there when it can. */
function setHandshakeTimeout(server: TlsServer, ms: number): void {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'handshake-timeout');
  if (key) (server as unknown as Record<symbol, number>)[key] = ms;
}
