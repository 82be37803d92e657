// The validated, normalised configuration. Everything downstream reads these types, never raw YAML.
import type { ConfigIssue } from '../errors.js';
import type { MiddlewareType, RawMiddleware } from './schema.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const logLevels: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export type BalancerKind = 'round_robin' | 'least_request' | 'random' | 'hash' | 'sticky';
export const balancerKinds: readonly BalancerKind[] = ['round_robin', 'least_request', 'random', 'hash', 'sticky'];

/** What a service or router carries: HTTP (over plain TCP or TLS) or a TCP byte stream. */
export type Protocol = 'http' | 'tcp';

/** What an entrypoint listens for: HTTP, HTTP over TLS (HTTPS), or TCP. */
export type EntrypointProtocol = 'http' | 'https' | 'tcp';

/** The protocol an entrypoint's routers and services speak: an https entrypoint routes HTTP. */
export function routingProtocol(protocol: EntrypointProtocol): Protocol {
  return protocol === 'tcp' ? 'tcp' : 'http';
}

export interface HostPort {
  host: string;
  port: number;
  /** As written by the user, for messages. */
  text: string;
}

export interface EntrypointConfig {
  name: string;
  address: HostPort;
  protocol: EntrypointProtocol;
  /** CIDRs whose X-Forwarded-* headers are trusted and extended rather than replaced. */
  trustedProxies: string[];
  /** Sources (CIDRs) whose connections must start with a PROXY protocol header; undefined: none is read. */
  proxyProtocol?: { trustedIPs: string[] };
  /** Client connections open at once on this entrypoint; undefined: only the process's budget (connection-limits.ts). */
  maxConnections?: number;
  /** Client connections open at once from one peer address; undefined: no limit. */
  maxConnectionsPerIP?: number;
  /** HTTP: the slowest average rate of an upload, after a grace period; undefined: no minimum. */
  minRequestBodyRate?: MinBodyRate;
  timeouts: {
    /** HTTP: time a client has to send its request head before it gets 408. Both: time for a PROXY header. */
    requestHeadersMs: number;
    /** HTTP: the longest pause in a request body; a client that pauses longer gets 408. */
    requestBodyMs: number;
    /** HTTP: keep-alive idle time between requests. TCP: idle time of a tunnel. */
    idleMs: number;
  };
  /** HTTPS, and TCP entrypoints with routers that terminate TLS: certificates and TLS settings. */
  tls?: EntrypointTlsConfig;
  /** HTTP: answer every request with a 308 to this HTTPS entrypoint. */
  redirect?: RedirectConfig;
  /** Set when the entrypoint speaks HTTP/2 to clients: by ALPN on https, by prior knowledge (h2c) on http. */
  http2?: Http2EntrypointConfig;
}

export interface Http2EntrypointConfig {
  /** Each client connection's SETTINGS_MAX_CONCURRENT_STREAMS. */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: the most bytes of a request's decoded header list. */
  maxHeaderListSize: number;
}

/** An upload slower on average than `bytesPerSecond`, once `graceMs` have passed, is cut (408). */
export interface MinBodyRate {
  bytesPerSecond: number;
  graceMs: number;
}

/** A certificate and its private key, as PEM files (absolute paths). */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface EntrypointTlsConfig {
  /** In order: the first is the default certificate (no SNI, or a name no certificate covers). */
  certificates: CertificateFiles[];
  minVersion: TlsVersion;
  /** A ClientHello naming a host that no certificate covers gets an unrecognized_name alert. */
  strictSNI: boolean;
  /** The Strict-Transport-Security value added to every response, when set. */
  hsts?: string;
  clientAuth?: ClientAuthConfig;
  /** `tls.acme`: the ACME resolver that orders certificates for every host routed here. */
  acme?: string;
}

export interface ClientAuthConfig {
  /** PEM files of the CAs that client certificates must chain to (absolute paths). */
  caFiles: string[];
  /** `require`: no valid client certificate, no connection. `verifyIfGiven`: a certificate is optional, but one that is sent must be valid. */
  mode: 'require' | 'verify_if_given';
  /** Send the verified subject to servers as X-Forwarded-Tls-Client-Cert-Subject. */
  forwardSubject: boolean;
}

export interface RedirectConfig {
  /** The https entrypoint requests are sent to. */
  to: string;
  /** The port in the Location; undefined: the port that entrypoint listens on. 443 is left out. */
  port?: number;
}

/** `acme.NAME`: an ACME account and where its certificates come from and are kept. */
export interface AcmeResolverConfig {
  name: string;
  directory: string;
  email?: string;
  /** Folder of the account key, certificates and keys (0700; files 0600). */
  storage: string;
  challenge: 'http-01' | 'tls-alpn-01';
  /** PEM bundle trusted for the directory's TLS (a private ACME server), beside the system CAs. */
  caFile?: string;
  /** Waits between failed orders of one host: doubling from `minMs`, capped at `maxMs`. */
  backoff: { minMs: number; maxMs: number };
}

export interface RouterMatch {
  /** Lower-case host names; a leading `*.` is a wildcard for any subdomain. Empty: any host. */
  hosts: string[];
  pathPrefix?: string;
  /** Lower-case header name and the exact value it must have. */
  headers: Array<[name: string, value: string]>;
  /**
   * TCP routers: lower-case server names (SNI) of the ClientHello, `*.` wildcards included.
   * Absent: the entrypoint's fallback router.
   */
  sni?: string[];
}

export interface RouterConfig {
  name: string;
  entrypoint: string;
  service: string;
  priority?: number;
  match: RouterMatch;
  /**
   * Middlewares, in the order they run. As written (`auth`, `auth@docker`) in a provider's
   * routers; the control loop qualifies each with its provider (`auth@file`) when it merges.
   */
  middlewares?: string[];
  /** TCP routers: lb terminates TLS with the entrypoint's certificates and forwards plain bytes. */
  tls?: 'terminate';
}

/**
 * `middlewares.NAME`: one middleware, its type and its checked settings (schema.ts), file paths
 * made absolute. Plain data, so that it travels to workers as it is.
 */
export type MiddlewareConfig = { [K in MiddlewareType]: { name: string; type: K; settings: NonNullable<RawMiddleware[K]> } }[MiddlewareType];

export interface HashPolicy {
  on: 'client_ip' | 'header' | 'cookie';
  /** Header or cookie name, when hashing on one. */
  name?: string;
}

export interface StickyPolicy {
  cookie: string;
  secure: boolean;
}

export interface ServerConfig {
  /** `h2c`: cleartext HTTP/2 (prior knowledge). */
  scheme: 'http' | 'https' | 'h2c' | 'tcp';
  host: string;
  port: number;
  weight: number;
}

export interface ServiceConfig {
  name: string;
  /** Derived from the routers that use the service. */
  protocol: Protocol;
  balancer: BalancerKind;
  hash: HashPolicy;
  sticky: StickyPolicy;
  servers: ServerConfig[];
  timeouts: {
    connectMs: number;
    /** HTTP only: time from sending the request to receiving the response head. */
    responseHeadersMs: number;
    /** HTTP: longest silence while a response body streams. TCP: tunnel idle time. */
    idleMs: number;
  };
  /** Active health checks; undefined: none, every server counts as up. */
  healthCheck?: HealthCheckConfig;
  /** Percent of healthy servers below which traffic goes to every server; 0 disables panic. */
  panicThresholdPercent: number;
  outlierDetection: OutlierDetectionConfig;
  retry: RetryConfig;
  /** How long a removed server's in-flight requests may take before its pool is destroyed. */
  drainTimeoutMs: number;
  /** How long a request waits for a server to appear in an empty pool before 503. */
  emptyPoolWaitMs: number;
  /** Send a PROXY protocol header of this version first on every connection to the servers. */
  proxyProtocol?: ProxyProtocolVersion;
  /** How lb verifies `https://` servers (data plane, upgrades and health checks alike). */
  tls: UpstreamTlsConfig;
  /** `https://` servers speak HTTP/2 (negotiated by ALPN h2). */
  http2: boolean;
  /** A service that splits requests between other services by weight; it has no servers. */
  weighted?: WeightedConfig;
  /** A service that sends requests to one service and copies of some to others; it has no servers. */
  mirroring?: MirroringConfig;
}

/** `weighted`: each request goes to one of `services`, by smooth weighted round-robin. */
export interface WeightedConfig {
  /** Global service names (a `@provider` qualifier is checked by `lb validate`, then dropped). */
  services: Array<{ name: string; weight: number }>;
  /** Remember the chosen service in this cookie; undefined: no stickiness. */
  sticky?: StickyPolicy;
}

/** `mirroring`: requests go to `service`; `percent` of them are copied to each mirror, whose answers are dropped. */
export interface MirroringConfig {
  service: string;
  mirrors: Array<{ name: string; percent: number }>;
  /** Requests with a longer body are not mirrored (a chunked one is measured as it streams). */
  maxBodyBytes: number;
  /** Copies in flight at once per mirror and entrypoint; more are dropped, not queued. */
  maxInFlight: number;
}

export interface UpstreamTlsConfig {
  /** PEM text of the CAs that replace the system CAs, read from `caFile` when the config loads. */
  ca?: string;
  caFile?: string;
  /** The name sent as SNI and verified in the certificate; default: the server host, unless an IP. */
  serverName?: string;
  insecureSkipVerify: boolean;
}

export type ProxyProtocolVersion = 'v1' | 'v2';

export interface HealthCheckConfig {
  /** `grpc`: the grpc.health.v1 Check call over HTTP/2. */
  type: 'http' | 'tcp' | 'grpc';
  /** HTTP: request path. */
  path: string;
  /** Port to check, when it differs from the traffic port. */
  port?: number;
  intervalMs: number;
  /** Interval while a server is down; defaults to intervalMs. */
  unhealthyIntervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** HTTP: accepted status ranges, inclusive. */
  expectStatus: Array<[number, number]>;
  /** HTTP: Host header of the check; default: the server address. */
  host?: string;
  headers: Array<[string, string]>;
  /** TCP: bytes to send after connecting, and a substring the reply must contain. */
  send?: string;
  expect?: string;
  /** gRPC: the `service` of the HealthCheckRequest; "" asks about the server as a whole. */
  grpcService: string;
  /** The service's servers require a PROXY header: checks send a LOCAL one (v2) or `PROXY UNKNOWN` (v1). */
  proxyProtocol?: ProxyProtocolVersion;
}

export interface OutlierDetectionConfig {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
}

export interface RetryConfig {
  attempts: number;
  /** Retries may not exceed this percent of the service's requests. */
  budgetPercent: number;
  /** Request bodies up to this many bytes are buffered so that they can be replayed. */
  bufferBodyBytes: number;
  /** When non-idempotent requests (POST, PATCH, ...) may use idle keep-alive connections. */
  unsafeReuse: UnsafeReuse;
}

/**
 * A non-idempotent request may not be retried once a server may have read it (RFC 9110 §9.2.2),
 * and an idle keep-alive connection may be closing as the request crosses it. `never`: each one
 * gets a new connection, which lb may retry if it is refused. `fresh` (the default): an idle
 * connection only while the server is sure to keep it open (idle for less than its Keep-Alive
 * timeout less a second, or a second where it names none), else a new one. `safe` (HAProxy's
 * default): only the first request of a client connection gets a new one; later ones use pooled
 * connections, and if such a connection closes before any answer, lb closes the client's
 * connection without one, as the server would have, so that the client retries as it would
 * against the server itself.
 * `always`: pooled connections, and a 502 when one closes under the request.
 */
export type UnsafeReuse = 'never' | 'fresh' | 'safe' | 'always';

/** What the Docker and Swarm providers share: the endpoint, and how labels are read and placed. */
export interface LabelProviderConfig {
  enabled: boolean;
  /** `unix:///var/run/docker.sock` or `tcp://host:port`; undefined: DOCKER_HOST, then the default socket. */
  endpoint?: string;
  labelPrefix: string;
  exposedByDefault: boolean;
  /** Entrypoint of routers whose labels name none. */
  entrypoint?: string;
  /** Entrypoint of routers whose labels name none but say `tls=true`; undefined: none is defined. */
  tlsEntrypoint?: string;
  /** Preferred networks, in order, for containers or services that do not set `<prefix>.network`. */
  networks: string[];
  /** Serve containers (tasks) whose HEALTHCHECK is still `starting`. */
  serveStarting: boolean;
}

/** TLS for a Docker API on TCP: PEM files, read when the provider starts. */
export interface DockerTlsConfig {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

export interface SwarmProviderConfig extends LabelProviderConfig {
  tls?: DockerTlsConfig;
  /** How often the task list is read again, beside the event stream. */
  refreshIntervalMs: number;
}

export interface DockerProviderConfig extends LabelProviderConfig {
  /** Address of the Docker host as lb reaches it: for `--network host` and published ports. */
  hostAddress: string;
  /** Use a published HostIp:HostPort when no network rule chose an address. */
  useBindPort: boolean;
  resyncIntervalMs: number;
  /** Compose one-off containers (`docker compose run`). */
  includeOneOff: boolean;
  /** Serve containers whose HEALTHCHECK is already `unhealthy`. */
  serveUnhealthy: boolean;
}

export interface LbConfig {
  /** Path of the file the config came from, for messages. */
  source: string;
  entrypoints: Map<string, EntrypointConfig>;
  admin: { address: HostPort; token?: string };
  accessLog: { enabled: boolean; path?: string };
  routers: Map<string, RouterConfig>;
  services: Map<string, ServiceConfig>;
  middlewares: Map<string, MiddlewareConfig>;
  /** ACME resolvers by name. */
  acme: Map<string, AcmeResolverConfig>;
  providers: { docker: DockerProviderConfig; swarm: SwarmProviderConfig };
  log: { level: LogLevel };
  shutdownTimeoutMs: number;
  /** Data-plane processes (1: the control plane serves too; more: a primary and N workers). */
  workers: number;
  /** How workers share a listening port: the socket cluster shares, or their own with SO_REUSEPORT. */
  workerListen: 'shared' | 'reuse_port';
  /** Accepted, but worth a word: deprecated spellings, with where they were written. */
  warnings: ConfigIssue[];
}
