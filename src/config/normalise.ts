// From validated raw settings (schema.ts, defaults filled in) to the normalised types that the
// rest of lb reads, with the checks that span several keys. Used for lb.yaml and for labels alike.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { didYouMean } from './suggest.js';
import { parseHtpasswd } from '../middleware/htpasswd.js';
import { parseHostPort, parseStatusRange, serviceSchema, type MiddlewareType, type RawConfig, type RawMiddleware, type RawRouter, type RawServiceSettings } from './schema.js';
import { formatPath, type KeyPath } from './validate.js';
import {
  routingProtocol,
  type AcmeResolverConfig, type EntrypointConfig, type EntrypointTlsConfig, type HealthCheckConfig, type HostPort, type LabelProviderConfig, type LbConfig, type MiddlewareConfig, type MirroringConfig, type Protocol, type RouterConfig, type RouterMatch, type ServerConfig, type ServiceConfig, type UpstreamTlsConfig, type WeightedConfig,
} from './types.js';

/** Records a problem at a key path (relative to what is being normalised); `warning`: accepted, but worth a word. */
export type Report = (path: KeyPath, message: string, atKey?: boolean, warning?: boolean) => void;

const defaultIdleMs = { http: 60_000, tcp: 3_600_000 } as const;
const defaultHealthTimeoutMs = 2_000;
const defaultResponseHeadersMs = 30_000;

const hostName = (h: string) => h.toLowerCase().replace(/\.$/, '');

function routerMatch(match: RawRouter['match']): RouterMatch {
  return {
    hosts: (match?.host ?? []).map(hostName),
    ...(match?.pathPrefix !== undefined ? { pathPrefix: match.pathPrefix } : {}),
    headers: [...(match?.headers ?? [])].map(([k, v]) => [k.toLowerCase(), v] as [string, string]),
    ...(match?.sni ? { sni: match.sni.map(hostName) } : {}),
  };
}

/**
 * What a router of `protocol` may not match on: a TCP router sees no HTTP request, only the
 * ClientHello's server name; an HTTP router matches the Host header instead. Returns the key to
 * point at and why.
 */
export function matchProblem(protocol: Protocol, match: RawRouter['match']): { key: string; message: string } | undefined {
  if (!match) return undefined;
  if (protocol === 'http') {
    return match.sni ? { key: 'sni', message: 'sni matches the TLS server name on a TCP entrypoint; an HTTP router matches "host"' } : undefined;
  }
  const key = match.host ? 'host' : match.pathPrefix !== undefined ? 'pathPrefix' : match.headers?.size ? 'headers' : undefined;
  return key ? { key, message: `a TCP router sees no HTTP request; it matches only "sni" (the server name of a TLS ClientHello): remove "${key}"` } : undefined;
}

/**
 * What a router of `protocol` may not say in `tls`: true and false are for HTTP routers (an https
 * entrypoint terminates their TLS), terminate and passthrough for TCP routers.
 */
export function routerTlsProblem(protocol: Protocol, tls: RawRouter['tls']): string | undefined {
  if (protocol === 'http' && typeof tls === 'string') return `tls: ${tls} applies to routers of tcp entrypoints; an HTTP router is served over TLS by an https entrypoint (tls: true picks one for a label router)`;
  if (protocol === 'tcp' && tls === true) return 'a TCP router says what it does with TLS: tls: terminate (lb decrypts with the entrypoint\'s certificates) or tls: passthrough (the bytes go on encrypted, the default)';
  return undefined;
}

/** Why a terminating TCP router cannot be on `entrypoint`: it has no certificates. */
export function terminateProblem(router: RouterConfig, entrypoint: EntrypointConfig): string | undefined {
  if (router.tls !== 'terminate' || entrypoint.tls) return undefined;
  return `entrypoint "${entrypoint.name}" has no tls block, and tls: terminate decrypts with its certificates: add entrypoints.${entrypoint.name}.tls.certificates`;
}

export function normaliseRouter(name: string, router: RawRouter): RouterConfig {
  return {
    name,
    entrypoint: router.entrypoint,
    service: router.service,
    ...(router.middlewares?.length ? { middlewares: router.middlewares } : {}),
    ...(router.priority !== undefined ? { priority: router.priority } : {}),
    match: routerMatch(router.match),
    ...(router.tls === 'terminate' ? { tls: 'terminate' as const } : {}),
  };
}

function normaliseHealthCheck(hc: NonNullable<RawServiceSettings['healthCheck']>, protocol: Protocol): HealthCheckConfig {
  return {
    type: hc.type ?? (hc.grpcService !== undefined ? 'grpc' : protocol === 'tcp' || hc.path === undefined ? 'tcp' : 'http'),
    path: hc.path ?? '/',
    ...(hc.port !== undefined ? { port: hc.port } : {}),
    intervalMs: hc.interval,
    unhealthyIntervalMs: hc.unhealthyInterval ?? hc.interval,
    timeoutMs: hc.timeout ?? Math.min(defaultHealthTimeoutMs, Math.floor(hc.interval / 2)),
    rise: hc.rise,
    fall: hc.fall,
    expectStatus: hc.expectStatus.map((s) => parseStatusRange(s)!),
    ...(hc.host !== undefined ? { host: hc.host } : {}),
    headers: [...(hc.headers ?? [])],
    ...(hc.send !== undefined ? { send: hc.send } : {}),
    ...(hc.expect !== undefined ? { expect: hc.expect } : {}),
    grpcService: hc.grpcService ?? '',
  };
}

/**
 * Headers that frame a message or a connection: lb writes them, never a middleware. HTTP2-Settings
 * belongs to a connection's upgrade, and Node's http2 refuses to send it.
 */
const framingHeaders = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'http2-settings']);

/**
 * One middleware, from lb.yaml or from labels: a users file is read now, so that one that is
 * missing or has a bad line is an error at load (the data plane reads it again, and on changes).
 */
export function normaliseMiddleware(name: string, raw: RawMiddleware, report: Report, baseDir = process.cwd()): MiddlewareConfig | undefined {
  const [type] = Object.keys(raw) as MiddlewareType[];
  const config = { name, type: type!, settings: raw[type!] } as MiddlewareConfig;
  if (config.type === 'headers') {
    let ok = true;
    for (const key of ['customRequestHeaders', 'customResponseHeaders'] as const) {
      for (const header of config.settings[key]?.keys() ?? []) {
        if (!framingHeaders.has(header.toLowerCase())) continue;
        report(['headers', key, header], `${header} frames the message or the connection, which lb sets itself; it cannot be set by a middleware`, true);
        ok = false;
      }
    }
    return ok ? config : undefined;
  }
  if (config.type === 'rateLimit' || config.type === 'inFlightReq') {
    const criterion = config.settings.sourceCriterion;
    if (criterion?.ipStrategy !== undefined && criterion.requestHeaderName !== undefined) {
      report([config.type, 'sourceCriterion'], 'sourceCriterion takes one of ipStrategy and requestHeaderName, not both');
      return undefined;
    }
    return config;
  }
  if (config.type !== 'basicAuth') return config;
  const auth = config.settings;
  if (!auth.users?.length && auth.usersFile === undefined) {
    report(['basicAuth'], 'basicAuth needs users (["user:hash"], as htpasswd -nB user prints them) or usersFile');
    return undefined;
  }
  let ok = true;
  for (const problem of parseHtpasswd(auth.users ?? []).problems) {
    report(['basicAuth', 'users', problem.line - 1], problem.message);
    ok = false;
  }
  if (auth.usersFile === undefined) return ok ? config : undefined;
  const file = resolve(baseDir, auth.usersFile);
  try {
    for (const problem of parseHtpasswd(readFileSync(file, 'utf8').split('\n')).problems) {
      report(['basicAuth', 'usersFile'], `${file}:${problem.line}: ${problem.message}`);
      ok = false;
    }
  } catch (err) {
    report(['basicAuth', 'usersFile'], `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    ok = false;
  }
  return ok ? { ...config, settings: { ...auth, usersFile: file } } : undefined;
}

/** A service's settings, from lb.yaml or from labels, with the checks that span keys. */
export function normaliseService(name: string, protocol: Protocol, svc: RawServiceSettings, servers: ServerConfig[], report: Report, baseDir = process.cwd()): ServiceConfig {
  const balancer = svc.balancer ?? (svc.hash ? 'hash' : svc.sticky ? 'sticky' : 'round_robin');
  if (svc.hash && balancer !== 'hash') report(['hash'], `"hash" settings apply only to balancer: hash`, true);
  if (svc.sticky && balancer !== 'sticky') report(['sticky'], `"sticky" settings apply only to balancer: sticky`, true);
  if (svc.hash && svc.hash.on !== 'client_ip' && !svc.hash.name) report(['hash'], `hashing on a ${svc.hash.on} needs its "name"`);
  if (protocol === 'tcp' && (balancer === 'sticky' || svc.hash?.on === 'header' || svc.hash?.on === 'cookie')) {
    // Named at the key that was written: with labels, `sticky.cookie` alone chooses the balancer.
    const written = svc.balancer !== undefined ? 'balancer' : balancer === 'sticky' ? 'sticky' : 'hash';
    report([written], `a TCP service cannot use ${balancer === 'sticky' ? 'sticky cookies' : 'header or cookie hashing'}; use hash on client_ip`);
  }
  const kind = svc.weighted ? 'weighted' : svc.mirroring ? 'mirroring' : undefined;
  if (protocol === 'tcp' && kind) report([kind], `a ${kind} service passes on HTTP requests; a TCP router needs a service with servers`);
  const healthCheck = svc.healthCheck ? { ...normaliseHealthCheck(svc.healthCheck, protocol), ...(svc.proxyProtocol ? { proxyProtocol: svc.proxyProtocol } : {}) } : undefined;
  if (healthCheck && svc.healthCheck?.grpcService !== undefined && healthCheck.type !== 'grpc') {
    report(['healthCheck', 'grpcService'], `grpcService applies to gRPC checks; this one is ${healthCheck.type}`, true, true);
  }
  if (healthCheck && healthCheck.timeoutMs >= healthCheck.intervalMs) {
    report(['healthCheck', 'timeout'], `the timeout (${healthCheck.timeoutMs}ms) must be shorter than the interval (${healthCheck.intervalMs}ms)`);
  }
  if (protocol === 'tcp' && svc.timeouts.responseHeaders !== undefined) report(['timeouts', 'responseHeaders'], 'a TCP service has no response headers; remove this timeout', true);
  const tls = normaliseUpstreamTls(svc.tls, baseDir, (path, message, atKey, warning) => report(['tls', ...path], message, atKey, warning));
  const outlier = svc.outlierDetection;
  if (outlier.maxEjectionTime < outlier.baseEjectionTime) report(['outlierDetection', 'maxEjectionTime'], 'must be at least baseEjectionTime');
  return {
    name,
    protocol,
    balancer,
    hash: svc.hash ? { on: svc.hash.on, ...(svc.hash.name ? { name: svc.hash.name } : {}) } : { on: 'client_ip' },
    sticky: { cookie: svc.sticky?.cookie ?? 'lb_sticky', secure: svc.sticky?.secure ?? false },
    servers,
    timeouts: {
      connectMs: svc.timeouts.connect,
      responseHeadersMs: svc.timeouts.responseHeaders ?? defaultResponseHeadersMs,
      idleMs: svc.timeouts.idle ?? defaultIdleMs[protocol],
    },
    ...(healthCheck ? { healthCheck } : {}),
    panicThresholdPercent: svc.panicThreshold,
    outlierDetection: {
      consecutiveFailures: outlier.consecutiveFailures,
      baseEjectionMs: outlier.baseEjectionTime,
      maxEjectionMs: outlier.maxEjectionTime,
      maxEjectionPercent: outlier.maxEjectionPercent,
    },
    retry: { attempts: svc.retries, budgetPercent: svc.retryBudget, bufferBodyBytes: svc.retryBufferBytes, unsafeReuse: svc.unsafeReuse },
    drainTimeoutMs: svc.drainTimeout,
    emptyPoolWaitMs: svc.emptyPoolWait,
    ...(svc.proxyProtocol ? { proxyProtocol: svc.proxyProtocol } : {}),
    tls,
    http2: svc.http2,
    ...(svc.weighted ? { weighted: normaliseWeighted(svc.weighted) } : {}),
    ...(svc.mirroring ? { mirroring: normaliseMirroring(svc.mirroring) } : {}),
  };
}

/** Providers a service reference may name: `app-v1@docker`. Names are global, so it only says where the service is expected. */
const providerQualifier = /@(file|docker)$/;

/** The global name of a service reference: `app-v1@docker` is `app-v1`. */
export function serviceRefName(ref: string): string {
  return ref.replace(providerQualifier, '');
}

function normaliseWeighted(raw: NonNullable<RawServiceSettings['weighted']>): WeightedConfig {
  return {
    services: raw.services.map((child) => ({ name: serviceRefName(child.name), weight: child.weight })),
    ...(raw.sticky ? { sticky: { cookie: raw.sticky.cookie, secure: raw.sticky.secure } } : {}),
  };
}

function normaliseMirroring(raw: NonNullable<RawServiceSettings['mirroring']>): MirroringConfig {
  return {
    service: serviceRefName(raw.service),
    mirrors: raw.mirrors.map((mirror) => ({ name: serviceRefName(mirror.name), percent: mirror.percent })),
    maxBodyBytes: raw.maxBodySize,
    maxInFlight: raw.maxInFlight,
  };
}

/** The services a weighted or mirroring service passes requests to, as written, with their key paths. */
function serviceRefs(svc: RawServiceSettings): Array<{ ref: string; path: KeyPath }> {
  if (svc.weighted) return svc.weighted.services.map((child, index) => ({ ref: child.name, path: ['weighted', 'services', index, 'name'] }));
  if (svc.mirroring) return [{ ref: svc.mirroring.service, path: ['mirroring', 'service'] }, ...svc.mirroring.mirrors.map((mirror, index) => ({ ref: mirror.name, path: ['mirroring', 'mirrors', index, 'name'] }))];
  return [];
}

/**
 * The references of lb.yaml's weighted and mirroring services: each names a service of lb.yaml,
 * or, with Docker on, one that containers may define (`@docker` says so, `@file` insists on
 * lb.yaml); and no service reaches itself through them.
 */
function checkServiceRefs(raw: RawConfig, report: Report): void {
  const edges = new Map<string, string[]>();
  for (const [name, svc] of raw.services) {
    const refs = serviceRefs(svc);
    edges.set(name, refs.map(({ ref }) => serviceRefName(ref)));
    for (const { ref, path } of refs) {
      const target = serviceRefName(ref);
      const provider = providerQualifier.exec(ref)?.[1];
      const at = ['services', name, ...path];
      if (provider === 'docker' && !raw.providers.docker.enabled) report(at, `service "${ref}" comes from Docker labels, but providers.docker.enabled is false`);
      else if (provider !== 'docker' && !raw.services.has(target) && (provider === 'file' || !raw.providers.docker.enabled)) {
        report(at, `service "${target}" is not defined${suggestion(target, [...raw.services.keys()].filter((other) => other !== name))}`);
      }
    }
  }
  // A cycle is reported once, at the first service on it (in the order lb.yaml lists them).
  const done = new Set<string>();
  for (const start of edges.keys()) {
    const cycle = cycleFrom(start, edges, [], done);
    if (!cycle) continue;
    for (const member of cycle) done.add(member);
    const path = serviceRefs(raw.services.get(cycle[0]!)!).find(({ ref }) => serviceRefName(ref) === cycle[1])!.path;
    report(['services', cycle[0]!, ...path], cycle.length === 2 ? `service "${cycle[0]}" names itself` : `services name each other in a cycle: ${cycle.join(' → ')}`);
  }
}

/** A cycle reachable from `name`, as the names along it (first = last), or undefined; `done` holds names known to lead to none. */
export function cycleFrom(name: string, edges: ReadonlyMap<string, readonly string[]>, stack: string[], done: Set<string>): string[] | undefined {
  const at = stack.indexOf(name);
  if (at >= 0) return [...stack.slice(at), name];
  if (done.has(name)) return undefined;
  stack.push(name);
  for (const next of edges.get(name) ?? []) {
    const cycle = cycleFrom(next, edges, stack, done);
    if (cycle) return cycle;
  }
  stack.pop();
  done.add(name);
  return undefined;
}

/**
 * `tls` of a service: the CA file is read now, at load, so that an unreadable one is a config
 * error at its line, and so that workers get its text with the config rather than read files.
 */
function normaliseUpstreamTls(raw: RawServiceSettings['tls'], baseDir: string, report: Report): UpstreamTlsConfig {
  const insecureSkipVerify = raw?.insecureSkipVerify ?? false;
  if (insecureSkipVerify) report(['insecureSkipVerify'], 'the certificates of this service\'s https:// servers are not verified: anyone on the path can impersonate them', false, true);
  const tls: UpstreamTlsConfig = { insecureSkipVerify, ...(raw?.serverName !== undefined ? { serverName: hostName(raw.serverName) } : {}) };
  if (raw?.caFile === undefined) return tls;
  const file = resolve(baseDir, raw.caFile);
  let ca: string;
  try {
    ca = readFileSync(file, 'utf8');
  } catch (err) {
    report(['caFile'], `cannot read CA file ${file}: ${(err as Error).message}`);
    return tls;
  }
  try {
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    createSecureContext({ ca });
  } catch (err) {
    report(['caFile'], `CA file ${file} is not usable: ${(err as Error).message}`);
    return tls;
  }
  return { ...tls, ca, caFile: file };
}

/** The settings of a service that says nothing: every key at its default. */
function defaultServiceSettings(): RawServiceSettings {
  return serviceSchema({}, [], [])!;
}

/** A service with every setting at its default, for pools defined outside lb.yaml. */
export function defaultServiceConfig(name: string, protocol: Protocol, servers: ServerConfig[] = []): ServiceConfig {
  return normaliseService(name, protocol, defaultServiceSettings(), servers, () => undefined);
}

/** Why a file is not a readable PEM certificate bundle, or undefined when it is one. */
function pemCertificateProblem(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').includes('-----BEGIN CERTIFICATE-----') ? undefined : `${file} holds no PEM certificate`;
  } catch (err) {
    return `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

function portsOverlap(a: HostPort, b: HostPort): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

interface WrittenNames {
  services: Set<string>;
  middlewares: Set<string>;
  entrypoints: Set<string>;
  /** The schema found no error, so no list lost an entry: positions in lists are as written. */
  schemaValid: boolean;
}

function suggestion(input: string, known: Iterable<string>): string {
  const names = [...known];
  if (!names.length) return '';
  return didYouMean(input, names) || ` (defined: ${names.join(', ')})`;
}

type RawEntrypoint = RawConfig['entrypoints'] extends Map<string, infer E> ? E : never;

/** An entrypoint's tls block; file paths are read relative to the config file's folder. */
function normaliseTls(tls: NonNullable<RawEntrypoint['tls']>, source: string): EntrypointTlsConfig {
  const file = (path: string) => resolve(dirname(source), path.trim());
  const { hsts, clientAuth } = tls;
  return {
    certificates: tls.certificates.map((c) => ({ certFile: file(c.certFile), keyFile: file(c.keyFile) })),
    minVersion: tls.minVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    strictSNI: tls.strictSNI,
    ...(hsts ? { hsts: `max-age=${hsts.maxAge}${hsts.includeSubDomains ? '; includeSubDomains' : ''}` } : {}),
    ...(clientAuth ? { clientAuth: { caFiles: clientAuth.caFiles.map(file), mode: clientAuth.mode, forwardSubject: clientAuth.forwardSubject } } : {}),
    ...(tls.acme !== undefined ? { acme: tls.acme } : {}),
  };
}

/** The TLS and redirect keys of each entrypoint, checked against its protocol and the other entrypoints. */
function checkEntrypointTls(raw: RawConfig, entrypoints: ReadonlyMap<string, EntrypointConfig>, report: Report): void {
  for (const [name, ep] of raw.entrypoints) {
    const at = ['entrypoints', name];
    if (ep.protocol === 'https') {
      if (!ep.tls) report([...at, 'protocol'], 'an https entrypoint needs tls.certificates: [ { certFile, keyFile } ], or tls.acme: <resolver>');
      else if (ep.tls.certificates.length === 0 && ep.tls.acme === undefined) report([...at, 'tls', 'certificates'], 'an https entrypoint needs at least one certificate: [ { certFile, keyFile } ], or tls.acme: <resolver>');
    } else if (ep.tls && ep.protocol === 'tcp') {
      // Only what a TLS handshake decides applies here: a TCP stream has no responses to add HSTS or
      // a client certificate header to, and ACME orders certificates for the hosts of HTTP routers.
      if (ep.tls.hsts) report([...at, 'tls', 'hsts'], 'hsts is an HTTP response header; a tcp entrypoint forwards bytes and sends none', true);
      if (ep.tls.clientAuth?.forwardSubject) report([...at, 'tls', 'clientAuth', 'forwardSubject'], 'forwardSubject adds an HTTP request header; a tcp entrypoint forwards bytes and adds none', true);
      if (ep.tls.acme !== undefined) report([...at, 'tls', 'acme'], 'tls.acme orders certificates for the hosts of HTTP routers; a tcp entrypoint takes tls.certificates', true);
      else if (ep.tls.certificates.length === 0) report([...at, 'tls', 'certificates'], 'a tcp entrypoint that terminates TLS needs at least one certificate: [ { certFile, keyFile } ]');
    } else if (ep.tls) {
      report([...at, 'tls'], `tls applies to https entrypoints, and to tcp entrypoints whose routers terminate TLS; this one is ${ep.protocol} (set protocol: https)`, true);
    }
    if (!ep.redirect) continue;
    if (ep.protocol !== 'http') {
      report([...at, 'redirect'], `redirect applies to http entrypoints; this one is ${ep.protocol}`, true);
      continue;
    }
    const target = entrypoints.get(ep.redirect.to);
    if (!target) report([...at, 'redirect', 'to'], `entrypoint "${ep.redirect.to}" is not defined${suggestion(ep.redirect.to, [...entrypoints.values()].filter((e) => e.protocol === 'https').map((e) => e.name))}`);
    else if (target.protocol !== 'https') report([...at, 'redirect', 'to'], `entrypoint "${ep.redirect.to}" is ${target.protocol}; a redirect goes to an https entrypoint`);
  }
}

/** `http2.cleartext` where it means nothing: h2c is for http entrypoints, https ones negotiate h2 by ALPN. */
function checkEntrypointHttp2(raw: RawConfig, report: Report): void {
  for (const [name, ep] of raw.entrypoints) {
    if (ep.http2.cleartext && ep.protocol !== 'http') report(['entrypoints', name, 'http2', 'cleartext'], `cleartext HTTP/2 (h2c) applies to http entrypoints; this one is ${ep.protocol}${ep.protocol === 'https' ? ', where clients negotiate h2 by ALPN' : ''}`, true, true);
  }
}

/** HTTP/2 by ALPN on https entrypoints (unless disabled), by prior knowledge on http ones that ask for cleartext. */
function servesHttp2(ep: RawEntrypoint): boolean {
  if (ep.protocol === 'https') return ep.http2.enabled;
  return ep.protocol === 'http' && ep.http2.enabled && ep.http2.cleartext;
}

type RawServer = RawConfig['services'] extends Map<string, infer S> ? S extends { servers: Array<infer V> } ? V : never : never;

function normaliseServer(server: RawServer, serviceName: string, protocol: Protocol, path: KeyPath, report: Report): ServerConfig | undefined {
  if ((server.url === undefined) === (server.address === undefined)) {
    report(path, 'give a server either "url" (http://host:port) or "address" (host:port), not both or neither');
    return undefined;
  }
  if (server.url !== undefined) {
    const url = new URL(server.url);
    const scheme = url.protocol.slice(0, -1) as ServerConfig['scheme'];
    if (protocol === 'tcp' && scheme !== 'tcp') report([...path, 'url'], `service "${serviceName}" serves a TCP router; write the server as address: host:port`);
    if (protocol === 'http' && scheme === 'tcp') report([...path, 'url'], `service "${serviceName}" serves HTTP routers; use an http:// or https:// URL`);
    const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
    return { scheme, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, weight: server.weight };
  }
  const hp = parseHostPort(server.address!)!;
  if (hp.port === 0) report([...path, 'address'], 'a server needs a real port, not 0');
  return { scheme: protocol === 'tcp' ? 'tcp' : 'http', host: hp.host, port: hp.port, weight: server.weight };
}

/** The whole lb.yaml, with its cross-references (routers → entrypoints and services) checked. */
export function normaliseConfig(raw: RawConfig, source: string, report: Report, written: WrittenNames): LbConfig {
  const entrypoints = new Map<string, EntrypointConfig>();
  for (const [name, ep] of raw.entrypoints) {
    entrypoints.set(name, {
      name,
      address: parseHostPort(ep.address)!,
      protocol: ep.protocol,
      trustedProxies: ep.trustedProxies,
      ...(ep.proxyProtocol ? { proxyProtocol: { trustedIPs: ep.proxyProtocol.trustedIPs } } : {}),
      ...(ep.maxConnections !== undefined ? { maxConnections: ep.maxConnections } : {}),
      ...(ep.maxConnectionsPerIP !== undefined ? { maxConnectionsPerIP: ep.maxConnectionsPerIP } : {}),
      ...(ep.minRequestBodyRate ? { minRequestBodyRate: { bytesPerSecond: ep.minRequestBodyRate.bytesPerSecond, graceMs: ep.minRequestBodyRate.grace } } : {}),
      timeouts: { requestHeadersMs: ep.timeouts.requestHeaders, requestBodyMs: ep.timeouts.requestBody, idleMs: ep.timeouts.idle ?? defaultIdleMs[routingProtocol(ep.protocol)] },
      ...(ep.tls && ep.protocol !== 'http' ? { tls: normaliseTls(ep.tls, source) } : {}),
      ...(ep.redirect && ep.protocol === 'http' ? { redirect: { to: ep.redirect.to, ...(ep.redirect.port !== undefined ? { port: ep.redirect.port } : {}) } } : {}),
      ...(servesHttp2(ep) ? { http2: { maxConcurrentStreams: ep.http2.maxConcurrentStreams, maxHeaderListSize: ep.http2.maxHeaderListSize } } : {}),
    });
    const resolver = ep.tls?.acme;
    if (resolver !== undefined && !raw.acme.has(resolver)) {
      report(['entrypoints', name, 'tls', 'acme'], `ACME resolver "${resolver}" is not defined under acme${suggestion(resolver, raw.acme.keys())}`);
    }
  }
  const acme = new Map<string, AcmeResolverConfig>();
  for (const [name, resolver] of raw.acme) {
    if (resolver.backoff.max < resolver.backoff.min) report(['acme', name, 'backoff', 'max'], 'must be at least backoff.min');
    if (resolver.caFile !== undefined) {
      const problem = pemCertificateProblem(resolver.caFile);
      if (problem) report(['acme', name, 'caFile'], problem);
    }
    acme.set(name, {
      name,
      directory: resolver.directory,
      ...(resolver.email !== undefined ? { email: resolver.email } : {}),
      storage: resolver.storage,
      challenge: resolver.challenge,
      ...(resolver.caFile !== undefined ? { caFile: resolver.caFile } : {}),
      backoff: { minMs: resolver.backoff.min, maxMs: resolver.backoff.max },
    });
  }
  checkEntrypointTls(raw, entrypoints, report);
  checkEntrypointHttp2(raw, report);
  const admin = { address: parseHostPort(raw.admin.address)!, ...(raw.admin.token !== undefined ? { token: raw.admin.token } : {}) };
  // The dashboard and /api/* show every route and server: off loopback, a token, or a statement
  // that something else guards the port.
  if (!isLoopback(admin.address.host) && raw.admin.token === undefined && !raw.admin.insecure) {
    report(['admin', 'address'], `the admin API on ${admin.address.text} would be open to anyone who can reach it: set admin.token (16 or more characters; /metrics and /healthz stay open for scrapers), or admin.insecure: true when a firewall or private network guards it`);
  }

  const bound: Array<[KeyPath, HostPort]> = [[['admin', 'address'], admin.address]];
  for (const ep of entrypoints.values()) {
    const path = ['entrypoints', ep.name, 'address'];
    const clash = bound.find(([, other]) => portsOverlap(other, ep.address));
    if (clash) report(path, `address ${ep.address.text} is already used by ${formatPath(clash[0]).replace(/\.address$/, '')}`);
    bound.push([path, ep.address]);
  }

  const middlewares = new Map<string, MiddlewareConfig>();
  for (const [name, middleware] of raw.middlewares) {
    const checked = normaliseMiddleware(name, middleware, (path, message, atKey, warning) => report(['middlewares', name, ...path], message, atKey, warning), dirname(source));
    if (checked) middlewares.set(name, checked);
  }

  const routers = new Map<string, RouterConfig>();
  const serviceProtocols = new Map<string, { protocol: Protocol; router: string }>();
  for (const [name, router] of raw.routers) {
    const entrypoint = entrypoints.get(router.entrypoint);
    if (!entrypoint) {
      if (written.entrypoints.has(router.entrypoint)) continue;
      report(['routers', name, 'entrypoint'], `entrypoint "${router.entrypoint}" is not defined${suggestion(router.entrypoint, entrypoints.keys())}`);
      continue;
    }
    if (!raw.services.has(router.service)) {
      if (written.services.has(router.service)) continue;
      // With Docker or Swarm on, the service may come from labels; until it does, the route
      // answers 503 rather than 404.
      if (!raw.providers.docker.enabled && !raw.providers.swarm.enabled) {
        report(['routers', name, 'service'], `service "${router.service}" is not defined${suggestion(router.service, raw.services.keys())}`);
        continue;
      }
    }
    const problem = matchProblem(routingProtocol(entrypoint.protocol), router.match);
    if (problem) {
      report(['routers', name, 'match', problem.key], problem.message, true);
      continue;
    }
    const protocol = routingProtocol(entrypoint.protocol);
    const previous = serviceProtocols.get(router.service);
    if (previous && previous.protocol !== protocol) {
      report(['routers', name, 'service'], `service "${router.service}" is used by ${previous.protocol.toUpperCase()} router "${previous.router}" and by this ${protocol.toUpperCase()} router; give each protocol its own service`);
      continue;
    }
    const tlsProblem = routerTlsProblem(protocol, router.tls);
    if (tlsProblem) {
      report(['routers', name, 'tls'], tlsProblem);
      continue;
    }
    const normalised = normaliseRouter(name, router);
    (router.middlewares ?? []).forEach((ref, index) => {
      // Those of other providers (auth@docker) come and go with them; lb.yaml's are known now.
      const [middleware, provider = 'file'] = ref.split('@') as [string, string?];
      if (protocol === 'tcp') report(['routers', name, 'middlewares'], 'a TCP router sees no HTTP request: middlewares apply to HTTP routers');
      else if (provider === 'file' && !raw.middlewares.has(middleware) && !written.middlewares.has(middleware)) report(['routers', name, 'middlewares', index], `middleware "${middleware}" is not defined${suggestion(middleware, raw.middlewares.keys())}`);
    });
    const noCertificates = terminateProblem(normalised, entrypoint);
    if (noCertificates) report(['routers', name, 'tls'], noCertificates);
    if (router.tls === true && entrypoint.protocol !== 'https') report(['routers', name, 'tls'], `entrypoint "${router.entrypoint}" is ${entrypoint.protocol}, so this router is not served over TLS; tls: true only picks the entrypoint of label routers that name none`, false, true);
    if (entrypoint.redirect) report(['routers', name, 'entrypoint'], `entrypoint "${router.entrypoint}" redirects every request to "${entrypoint.redirect.to}", so this router is never used`, false, true);
    serviceProtocols.set(router.service, { protocol, router: name });
    routers.set(name, normalised);
  }
  const fallbackOf = new Map<string, string>();
  for (const router of routers.values()) {
    if (entrypoints.get(router.entrypoint)!.protocol !== 'tcp' || router.match.sni) continue;
    const other = fallbackOf.get(router.entrypoint);
    if (other) report(['routers', router.name, 'entrypoint'], `TCP entrypoint "${router.entrypoint}" already has router "${other}" without "match"; an entrypoint takes one fallback router, and the others match "sni"`);
    fallbackOf.set(router.entrypoint, router.name);
  }

  const services = new Map<string, ServiceConfig>();
  for (const [name, svc] of raw.services) {
    const protocol = serviceProtocols.get(name)?.protocol ?? 'http';
    const at: Report = (path, message, atKey, warning) => report(['services', name, ...path], message, atKey, warning);
    const servers = svc.servers.flatMap((server, index) => normaliseServer(server, name, protocol, ['servers', index], at) ?? []);
    services.set(name, normaliseService(name, protocol, svc, servers, at, dirname(source)));
  }
  // The key path of a reference has its position in a list, which is only right in whole lists.
  if (written.schemaValid) checkServiceRefs(raw, report);

  const httpEntrypoints = [...entrypoints.values()].filter((ep) => ep.protocol === 'http').map((ep) => ep.name);
  const httpsEntrypoints = [...entrypoints.values()].filter((ep) => ep.protocol === 'https').map((ep) => ep.name);
  /** The settings the Docker and Swarm providers share, with their entrypoints checked. */
  const labelProvider = (key: 'docker' | 'swarm'): LabelProviderConfig => {
    const settings = raw.providers[key];
    const entrypoint = settings.entrypoint ?? (httpEntrypoints.includes('web') ? 'web' : httpEntrypoints[0]);
    if (settings.entrypoint !== undefined && !entrypoints.has(settings.entrypoint)) {
      report(['providers', key, 'entrypoint'], `entrypoint "${settings.entrypoint}" is not defined${suggestion(settings.entrypoint, entrypoints.keys())}`);
    }
    const tlsEntrypoint = settings.tlsEntrypoint ?? (httpsEntrypoints.includes('websecure') ? 'websecure' : undefined);
    if (settings.tlsEntrypoint !== undefined) {
      const target = entrypoints.get(settings.tlsEntrypoint);
      if (!target) report(['providers', key, 'tlsEntrypoint'], `entrypoint "${settings.tlsEntrypoint}" is not defined${suggestion(settings.tlsEntrypoint, httpsEntrypoints)}`);
      else if (target.protocol !== 'https') report(['providers', key, 'tlsEntrypoint'], `entrypoint "${settings.tlsEntrypoint}" is ${target.protocol}; label routers with tls=true need an https entrypoint`);
    }
    return {
      enabled: settings.enabled,
      ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
      labelPrefix: settings.labelPrefix,
      exposedByDefault: settings.exposedByDefault,
      ...(entrypoint !== undefined ? { entrypoint } : {}),
      ...(tlsEntrypoint !== undefined ? { tlsEntrypoint } : {}),
      networks: settings.network ?? [],
      serveStarting: settings.serveStarting,
    };
  };
  const docker = raw.providers.docker;
  const swarm = raw.providers.swarm;
  if (swarm.tls) {
    if (!swarm.endpoint?.startsWith('tcp://')) report(['providers', 'swarm', 'tls'], 'tls is for a manager\'s TCP API: set providers.swarm.endpoint to tcp://host:port');
    if ((swarm.tls.certFile === undefined) !== (swarm.tls.keyFile === undefined)) report(['providers', 'swarm', 'tls'], 'certFile and keyFile go together: set both (a client certificate) or neither');
  }

  return {
    source,
    entrypoints,
    admin,
    routers,
    services,
    middlewares,
    acme,
    providers: {
      docker: {
        ...labelProvider('docker'),
        hostAddress: docker.hostAddress,
        useBindPort: docker.useBindPort,
        resyncIntervalMs: docker.resyncInterval,
        includeOneOff: docker.includeOneOff,
        serveUnhealthy: docker.serveUnhealthy,
      },
      swarm: {
        ...labelProvider('swarm'),
        ...(swarm.tls ? { tls: { caFile: swarm.tls.caFile, ...(swarm.tls.certFile !== undefined ? { certFile: swarm.tls.certFile, keyFile: swarm.tls.keyFile! } : {}) } } : {}),
        refreshIntervalMs: swarm.refreshInterval,
      },
    },
    log: { level: raw.log.level },
    accessLog: { enabled: raw.accessLog.enabled, ...(raw.accessLog.path !== undefined ? { path: raw.accessLog.path } : {}) },
    shutdownTimeoutMs: raw.shutdownTimeout,
    workers: raw.workers,
    workerListen: raw.workerListen,
    warnings: [],
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses no other machine reaches. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
