import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { ConfigInvalidError, ConfigReadError, type ConfigIssue } from '../errors.js';
import { didYouMean } from './suggest.js';
import {
  boolean, dictionary, duration, formatPath, integer, list, object, oneOrMany, string,
  type KeyPath, type Output, type Problem, type Validator,
} from './schema.js';
import {
  balancerKinds, logLevels, type EntrypointConfig, type HealthCheckConfig, type HostPort, type LbConfig, type Protocol,
  type RouterConfig, type ServerConfig, type ServiceConfig,
} from './types.js';

const namePattern = /^[A-Za-z0-9][\w.-]*$/;
const nameHint = 'start with a letter or digit, then use letters, digits, ".", "-" and "_"';

export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? (match[2] || '0.0.0.0');
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port, text };
}

const hostPort = string({
  check: (s) => (parseHostPort(s) ? undefined : `expected host:port such as "0.0.0.0:8080" or "[::1]:8080", got "${s}"`),
});

const cidr = string({
  check: (s) => {
    const [address, bits, extra] = s.split('/');
    const family = isIP(address ?? '');
    const max = family === 6 ? 128 : 32;
    const prefix = bits === undefined ? max : Number(bits);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      return `expected an IP address or CIDR such as "10.0.0.0/8", got "${s}"`;
    }
    return undefined;
  },
});

const hostPattern = string({
  check: (s) =>
    /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(s)
      ? undefined
      : `expected a host name such as "app.example.com" or "*.example.com", got "${s}"`,
});

const serverUrl = string({
  check: (s) => {
    try {
      const url = new URL(s);
      if (!['http:', 'https:', 'tcp:'].includes(url.protocol)) return `expected an http://, https:// or tcp:// URL, got "${s}"`;
      if (url.pathname !== '/' && url.pathname !== '' || url.search || url.hash) return `a server URL has no path or query, got "${s}"`;
      if (!url.hostname) return `expected a URL with a host, got "${s}"`;
      return undefined;
    } catch {
      return `expected a URL such as "http://127.0.0.1:3000", got "${s}"`;
    }
  },
});

const schema = object({
  entrypoints: dictionary(
    object({
      address: hostPort,
      protocol: string({ oneOf: ['http', 'tcp'] }),
      trustedProxies: list(cidr),
      timeouts: object({ requestHeaders: duration({ min: 1 }), idle: duration({ min: 1 }) }),
    }, ['address']),
    { keyPattern: namePattern, keyHint: nameHint },
  ),
  admin: object({ address: hostPort, token: string({ check: (s) => (s.length >= 16 ? undefined : 'use a token of at least 16 characters') }) }),
  accessLog: object({ enabled: boolean(), path: string() }),
  routers: dictionary(
    object({
      entrypoint: string(),
      service: string(),
      priority: integer({ min: -1_000_000, max: 1_000_000 }),
      match: object({ host: oneOrMany(hostPattern), pathPrefix: string({ check: (s) => (s.startsWith('/') ? undefined : `a path prefix starts with "/", got "${s}"`) }), headers: dictionary(string(), { keyPattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, keyHint: 'a header name is an HTTP token' }) }),
    }, ['entrypoint', 'service']),
    { keyPattern: namePattern, keyHint: nameHint },
  ),
  services: dictionary(
    object({
      balancer: string({ oneOf: balancerKinds }),
      hash: object({ on: string({ oneOf: ['client_ip', 'header', 'cookie'] }), name: string() }, ['on']),
      sticky: object({ cookie: string({ check: (s) => (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s) ? undefined : `invalid cookie name "${s}"`) }), secure: boolean() }),
      servers: list(object({ url: serverUrl, address: hostPort, weight: integer({ min: 0, max: 10_000 }) })),
      timeouts: object({ connect: duration({ min: 1 }), responseHeaders: duration({ min: 1 }), idle: duration({ min: 1 }) }),
      healthCheck: object({
        type: string({ oneOf: ['http', 'tcp'] }),
        path: string({ check: (s) => (s.startsWith('/') ? undefined : `a path starts with "/", got "${s}"`) }),
        port: integer({ min: 1, max: 65535 }),
        interval: duration({ min: 100 }),
        unhealthyInterval: duration({ min: 100 }),
        timeout: duration({ min: 10 }),
        rise: integer({ min: 1, max: 100 }),
        fall: integer({ min: 1, max: 100 }),
        expectStatus: oneOrMany(string({ check: (s) => (parseStatusRange(s) ? undefined : `expected a status such as "200" or a range such as "200-399", got "${s}"`) })),
        host: string(),
        headers: dictionary(string(), { keyPattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, keyHint: 'a header name is an HTTP token' }),
        send: string(),
        expect: string(),
      }),
      panicThreshold: integer({ min: 0, max: 100 }),
      outlierDetection: object({ consecutiveFailures: integer({ min: 1, max: 1000 }), baseEjectionTime: duration({ min: 1 }), maxEjectionTime: duration({ min: 1 }), maxEjectionPercent: integer({ min: 0, max: 100 }) }),
      retries: integer({ min: 0, max: 10 }),
      retryBudget: integer({ min: 0, max: 100 }),
      retryBufferBytes: integer({ min: 0, max: 16 * 1024 * 1024 }),
      unsafeReuse: string({ oneOf: ['never', 'safe', 'always'] }),
      drainTimeout: duration(),
      emptyPoolWait: duration(),
    }, [], { unsafeOnNewConnection: 'unsafeReuse (true: never, false: always)' }),
    { keyPattern: namePattern, keyHint: nameHint },
  ),
  providers: object({
    docker: object({
      enabled: boolean(),
      endpoint: string({ check: (s) => (/^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+)$/.test(s) ? undefined : `expected unix:///path/to/docker.sock or tcp://host:port, got "${s}"`) }),
      labelPrefix: string({ check: (s) => (/^[a-z0-9][a-z0-9._-]*$/.test(s) ? undefined : `a label prefix uses lower-case letters, digits, ".", "-" and "_", got "${s}"`) }),
      exposedByDefault: boolean(),
      entrypoint: string(),
      network: oneOrMany(string()),
      hostAddress: string(),
      useBindPort: boolean(),
      resyncInterval: duration({ min: 1000 }),
      includeOneOff: boolean(),
      serveStarting: boolean(),
      serveUnhealthy: boolean(),
    }),
  }),
  log: object({ level: string({ oneOf: logLevels }) }),
  shutdownTimeout: duration(),
  workers: workerCount(),
  workerListen: string({ oneOf: ['shared', 'reusePort'] as const, check: (value) => (value === 'reusePort' && !reusePortSupported() ? `reusePort needs Node.js 22.12 or later (this is ${process.version}); use "shared"` : undefined) }),
});

type RawConfig = NonNullable<Output<typeof schema>>;

/** SO_REUSEPORT for TCP listeners came in Node 23.1 and 22.12. */
function reusePortSupported(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** `workers: auto` (one per CPU the process may use) or a count from 1 to 256. */
function workerCount(): Validator<number> {
  return (value, path, problems) => {
    if (value === 'auto') return availableParallelism();
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 256) return value;
    problems.push({ path, message: `expected "auto" or a whole number from 1 to 256, got ${JSON.stringify(value)}` });
    return undefined;
  };
}

/** Finds the YAML node at a key path, to report positions. */
function nodeAt(root: Node | null | undefined, path: KeyPath, atKey: boolean): Node | undefined {
  let node: Node | null | undefined = root;
  let last: Node | undefined = root ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(step));
      if (!pair) return last;
      node = (atKey && i === path.length - 1 ? pair.key : pair.value) as Node | null;
    } else if (isSeq(node) && typeof step === 'number') {
      node = node.items[step] as Node | null;
    } else {
      return last;
    }
    if (node) last = node;
  }
  return last;
}

export const defaults = {
  adminAddress: '127.0.0.1:9090',
  requestHeadersMs: 10_000,
  httpClientIdleMs: 60_000,
  connectMs: 5_000,
  responseHeadersMs: 30_000,
  httpUpstreamIdleMs: 60_000,
  tcpIdleMs: 3_600_000,
  stickyCookie: 'lb_sticky',
  shutdownTimeoutMs: 30_000,
  healthIntervalMs: 5_000,
  healthTimeoutMs: 2_000,
} as const;

function portsOverlap(a: HostPort, b: HostPort): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

/**
 * Turns YAML text into a validated config, or throws ConfigInvalidError listing every problem
 * with `file:line:col` and its key path. Nothing is partially applied.
 */
export function parseConfig(text: string, source: string): LbConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const locate = (offset: number | undefined) => {
    if (offset === undefined) return source;
    const { line, col } = lineCounter.linePos(offset);
    return `${source}:${line}:${col}`;
  };
  for (const error of doc.errors) {
    issues.push({ location: locate(error.pos[0]), path: '', message: error.message.split('\n')[0]! });
  }
  if (issues.length) throw new ConfigInvalidError(issues);

  const problems: Problem[] = [];
  const report = (path: KeyPath, message: string, atKey = false) => problems.push({ path, message, atKey });
  const js = (doc.toJS() ?? {}) as Record<string, unknown>;
  const raw = schema(js, [], problems);
  // A service that failed its own checks must not also be reported as missing by its routers.
  const written = (key: string) => new Set(Object.keys((js[key] as object | null) ?? {}));
  const config = normalise(raw ?? {}, source, report, { services: written('services'), entrypoints: written('entrypoints') });
  for (const problem of problems) {
    const node = nodeAt(doc.contents as Node | null, problem.path, problem.atKey ?? false);
    issues.push({ location: locate(node?.range?.[0]), path: formatPath(problem.path), message: problem.message });
  }
  if (issues.length) throw new ConfigInvalidError(issues);
  return config;
}

export function loadConfigFile(file: string): LbConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigReadError(file, err);
  }
  return parseConfig(text, file);
}

type RawService = NonNullable<NonNullable<RawConfig['services']> extends Map<string, infer S> ? S : never>;

export function parseStatusRange(text: string): [number, number] | undefined {
  const match = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/.exec(text.trim());
  if (!match) return undefined;
  const low = Number(match[1]);
  const high = match[2] ? Number(match[2]) : low;
  return low <= high ? [low, high] : undefined;
}

/** Health, outlier, retry and draining settings with their defaults (docs/configuration.md). */
export function resilience(svc: Partial<Pick<RawService, 'healthCheck' | 'panicThreshold' | 'outlierDetection' | 'retries' | 'retryBudget' | 'retryBufferBytes' | 'unsafeReuse' | 'drainTimeout' | 'emptyPoolWait'>>, protocol: Protocol) {
  const hc = svc.healthCheck;
  const intervalMs = hc?.interval ?? defaults.healthIntervalMs;
  const healthCheck: HealthCheckConfig | undefined = hc
    ? {
        type: hc.type ?? (protocol === 'tcp' || hc.path === undefined ? 'tcp' : 'http'),
        path: hc.path ?? '/',
        ...(hc.port !== undefined ? { port: hc.port } : {}),
        intervalMs,
        unhealthyIntervalMs: hc.unhealthyInterval ?? intervalMs,
        timeoutMs: hc.timeout ?? Math.min(defaults.healthTimeoutMs, Math.floor(intervalMs / 2)),
        rise: hc.rise ?? 2,
        fall: hc.fall ?? 3,
        expectStatus: (hc.expectStatus ?? ['200-399']).map((s) => parseStatusRange(s)!),
        ...(hc.host !== undefined ? { host: hc.host } : {}),
        headers: [...(hc.headers ?? [])],
        ...(hc.send !== undefined ? { send: hc.send } : {}),
        ...(hc.expect !== undefined ? { expect: hc.expect } : {}),
      }
    : undefined;
  return {
    ...(healthCheck ? { healthCheck } : {}),
    panicThresholdPercent: svc.panicThreshold ?? 50,
    outlierDetection: {
      consecutiveFailures: svc.outlierDetection?.consecutiveFailures ?? 5,
      baseEjectionMs: svc.outlierDetection?.baseEjectionTime ?? 30_000,
      maxEjectionMs: svc.outlierDetection?.maxEjectionTime ?? 300_000,
      maxEjectionPercent: svc.outlierDetection?.maxEjectionPercent ?? 50,
    },
    retry: { attempts: svc.retries ?? 1, budgetPercent: svc.retryBudget ?? 20, bufferBodyBytes: svc.retryBufferBytes ?? 64 * 1024, unsafeReuse: svc.unsafeReuse ?? 'never' },
    drainTimeoutMs: svc.drainTimeout ?? 30_000,
    emptyPoolWaitMs: svc.emptyPoolWait ?? 0,
  };
}

/** A service with every setting at its default, for pools defined outside lb.yaml. */
export function defaultServiceConfig(name: string, protocol: Protocol, servers: ServerConfig[] = []): ServiceConfig {
  return {
    ...resilience({}, protocol),
    name,
    protocol,
    balancer: 'round_robin',
    hash: { on: 'client_ip' },
    sticky: { cookie: defaults.stickyCookie, secure: false },
    servers,
    timeouts: {
      connectMs: defaults.connectMs,
      responseHeadersMs: defaults.responseHeadersMs,
      idleMs: protocol === 'tcp' ? defaults.tcpIdleMs : defaults.httpUpstreamIdleMs,
    },
  };
}

export function routerMatch(hosts: readonly string[], pathPrefix: string | undefined, headers: Iterable<[string, string]>): RouterConfig['match'] {
  return {
    hosts: hosts.map((h) => h.toLowerCase().replace(/\.$/, '')),
    ...(pathPrefix !== undefined ? { pathPrefix } : {}),
    headers: [...headers].map(([k, v]) => [k.toLowerCase(), v] as [string, string]),
  };
}

type Report = (path: KeyPath, message: string, atKey?: boolean) => void;

interface WrittenNames {
  services: Set<string>;
  entrypoints: Set<string>;
}

function normalise(raw: Partial<RawConfig>, source: string, report: Report, written: WrittenNames): LbConfig {
  const entrypoints = new Map<string, EntrypointConfig>();
  for (const [name, ep] of raw.entrypoints ?? []) {
    const protocol = (ep.protocol ?? 'http') as Protocol;
    entrypoints.set(name, {
      name,
      address: parseHostPort(ep.address)!,
      protocol,
      trustedProxies: ep.trustedProxies ?? [],
      timeouts: {
        requestHeadersMs: ep.timeouts?.requestHeaders ?? defaults.requestHeadersMs,
        idleMs: ep.timeouts?.idle ?? (protocol === 'tcp' ? defaults.tcpIdleMs : defaults.httpClientIdleMs),
      },
    });
  }
  const admin = { address: parseHostPort(raw.admin?.address ?? defaults.adminAddress)!, ...(raw.admin?.token !== undefined ? { token: raw.admin.token } : {}) };

  const bound: Array<[KeyPath, HostPort]> = [[['admin', 'address'], admin.address]];
  for (const ep of entrypoints.values()) {
    const path = ['entrypoints', ep.name, 'address'];
    const clash = bound.find(([, other]) => portsOverlap(other, ep.address));
    if (clash) report(path, `address ${ep.address.text} is already used by ${formatPath(clash[0]).replace(/\.address$/, '')}`);
    bound.push([path, ep.address]);
  }

  const routers = new Map<string, RouterConfig>();
  const serviceProtocols = new Map<string, { protocol: Protocol; router: string }>();
  for (const [name, router] of raw.routers ?? []) {
    const entrypoint = entrypoints.get(router.entrypoint);
    if (!entrypoint) {
      if (written.entrypoints.has(router.entrypoint)) continue;
      report(['routers', name, 'entrypoint'], `entrypoint "${router.entrypoint}" is not defined${suggestion(router.entrypoint, entrypoints.keys())}`);
      continue;
    }
    if (!raw.services?.has(router.service)) {
      if (written.services.has(router.service)) continue;
      // With Docker on, the service may come from container labels; until it does, the route
      // answers 503 rather than 404.
      if (!raw.providers?.docker?.enabled) {
        report(['routers', name, 'service'], `service "${router.service}" is not defined${suggestion(router.service, raw.services?.keys() ?? [])}`);
        continue;
      }
    }
    if (entrypoint.protocol === 'tcp' && router.match) {
      report(['routers', name, 'match'], `a TCP router takes every connection of its entrypoint; remove "match"`, true);
      continue;
    }
    const previous = serviceProtocols.get(router.service);
    if (previous && previous.protocol !== entrypoint.protocol) {
      report(['routers', name, 'service'], `service "${router.service}" is used by ${previous.protocol.toUpperCase()} router "${previous.router}" and by this ${entrypoint.protocol.toUpperCase()} router; give each protocol its own service`);
      continue;
    }
    serviceProtocols.set(router.service, { protocol: entrypoint.protocol, router: name });
    routers.set(name, {
      name,
      entrypoint: router.entrypoint,
      service: router.service,
      ...(router.priority !== undefined ? { priority: router.priority } : {}),
      match: routerMatch(router.match?.host ?? [], router.match?.pathPrefix, router.match?.headers ?? []),
    });
  }
  const tcpRouterOf = new Map<string, string>();
  for (const router of routers.values()) {
    if (entrypoints.get(router.entrypoint)!.protocol !== 'tcp') continue;
    const other = tcpRouterOf.get(router.entrypoint);
    if (other) report(['routers', router.name, 'entrypoint'], `TCP entrypoint "${router.entrypoint}" already has router "${other}"; a TCP entrypoint takes one router`);
    tcpRouterOf.set(router.entrypoint, router.name);
  }

  const services = new Map<string, ServiceConfig>();
  for (const [name, svc] of raw.services ?? []) {
    const protocol = serviceProtocols.get(name)?.protocol ?? 'http';
    const servers: ServerConfig[] = [];
    (svc.servers ?? []).forEach((server, index) => {
      const path = ['services', name, 'servers', index];
      if ((server.url === undefined) === (server.address === undefined)) {
        report(path, 'give a server either "url" (http://host:port) or "address" (host:port), not both or neither');
        return;
      }
      let scheme: ServerConfig['scheme'];
      let host: string;
      let port: number;
      if (server.url !== undefined) {
        const url = new URL(server.url);
        scheme = url.protocol.slice(0, -1) as ServerConfig['scheme'];
        host = url.hostname.replace(/^\[(.*)\]$/, '$1');
        port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
        if (protocol === 'tcp' && scheme !== 'tcp') report([...path, 'url'], `service "${name}" serves a TCP router; write the server as address: host:port`);
        if (protocol === 'http' && scheme === 'tcp') report([...path, 'url'], `service "${name}" serves HTTP routers; use an http:// or https:// URL`);
      } else {
        const hp = parseHostPort(server.address!)!;
        scheme = protocol === 'tcp' ? 'tcp' : 'http';
        host = hp.host;
        port = hp.port;
        if (port === 0) report([...path, 'address'], 'a server needs a real port, not 0');
      }
      servers.push({ scheme, host, port, weight: server.weight ?? 1 });
    });
    const balancer = svc.balancer ?? (svc.hash ? 'hash' : svc.sticky ? 'sticky' : 'round_robin');
    if (svc.hash && balancer !== 'hash') report(['services', name, 'hash'], `"hash" settings apply only to balancer: hash`, true);
    if (svc.sticky && balancer !== 'sticky') report(['services', name, 'sticky'], `"sticky" settings apply only to balancer: sticky`, true);
    if (svc.hash && svc.hash.on !== 'client_ip' && !svc.hash.name) report(['services', name, 'hash'], `hashing on a ${svc.hash.on} needs its "name"`);
    if (protocol === 'tcp' && (balancer === 'sticky' || svc.hash?.on === 'header' || svc.hash?.on === 'cookie')) {
      report(['services', name, 'balancer'], `a TCP service cannot use ${balancer === 'sticky' ? 'sticky cookies' : 'header or cookie hashing'}; use hash on client_ip`);
    }
    if (protocol === 'tcp' && svc.timeouts?.responseHeaders !== undefined) report(['services', name, 'timeouts', 'responseHeaders'], 'a TCP service has no response headers; remove this timeout', true);
    services.set(name, {
      name,
      protocol,
      balancer,
      hash: svc.hash ? { on: svc.hash.on, ...(svc.hash.name ? { name: svc.hash.name } : {}) } : { on: 'client_ip' },
      sticky: { cookie: svc.sticky?.cookie ?? defaults.stickyCookie, secure: svc.sticky?.secure ?? false },
      servers,
      timeouts: {
        connectMs: svc.timeouts?.connect ?? defaults.connectMs,
        responseHeadersMs: svc.timeouts?.responseHeaders ?? defaults.responseHeadersMs,
        idleMs: svc.timeouts?.idle ?? (protocol === 'tcp' ? defaults.tcpIdleMs : defaults.httpUpstreamIdleMs),
      },
      ...resilience(svc, protocol),
    });
    const check = services.get(name)!.healthCheck;
    if (check && check.timeoutMs >= check.intervalMs) report(['services', name, 'healthCheck', 'timeout'], `the timeout (${check.timeoutMs}ms) must be shorter than the interval (${check.intervalMs}ms)`);
    const outlier = services.get(name)!.outlierDetection;
    if (outlier.maxEjectionMs < outlier.baseEjectionMs) report(['services', name, 'outlierDetection', 'maxEjectionTime'], 'must be at least baseEjectionTime');
  }

  const docker = raw.providers?.docker;
  const httpEntrypoints = [...entrypoints.values()].filter((ep) => ep.protocol === 'http').map((ep) => ep.name);
  const dockerEntrypoint = docker?.entrypoint ?? (httpEntrypoints.includes('web') ? 'web' : httpEntrypoints[0]);
  if (docker?.entrypoint !== undefined && !entrypoints.has(docker.entrypoint)) {
    report(['providers', 'docker', 'entrypoint'], `entrypoint "${docker.entrypoint}" is not defined${suggestion(docker.entrypoint, entrypoints.keys())}`);
  }

  return {
    source,
    entrypoints,
    admin,
    routers,
    services,
    providers: {
      docker: {
        enabled: docker?.enabled ?? false,
        ...(docker?.endpoint !== undefined ? { endpoint: docker.endpoint } : {}),
        labelPrefix: docker?.labelPrefix ?? 'lb',
        exposedByDefault: docker?.exposedByDefault ?? false,
        ...(dockerEntrypoint !== undefined ? { entrypoint: dockerEntrypoint } : {}),
        networks: docker?.network ?? [],
        hostAddress: docker?.hostAddress ?? '127.0.0.1',
        useBindPort: docker?.useBindPort ?? false,
        resyncIntervalMs: docker?.resyncInterval ?? 30_000,
        includeOneOff: docker?.includeOneOff ?? false,
        serveStarting: docker?.serveStarting ?? false,
        serveUnhealthy: docker?.serveUnhealthy ?? false,
      },
    },
    log: { level: raw.log?.level ?? 'info' },
    accessLog: { enabled: raw.accessLog?.enabled ?? false, ...(raw.accessLog?.path !== undefined ? { path: raw.accessLog.path } : {}) },
    shutdownTimeoutMs: raw.shutdownTimeout ?? defaults.shutdownTimeoutMs,
    workers: raw.workers ?? 1,
    workerListen: raw.workerListen ?? 'shared',
  };
}

function suggestion(input: string, known: Iterable<string>): string {
  const names = [...known];
  if (!names.length) return '';
  return didYouMean(input, names) || ` (defined: ${names.join(', ')})`;
}
