// The one schema of lb's configuration, with its defaults. lb.yaml is validated by `configSchema`;
// container labels are validated by the same `routerSchema` and `serviceSchema` (and
// `labelServerSchema` for what only a container can say about itself), so a rule or a default
// exists once. docs/configuration.md is checked against it by test/docs-configuration-sync.test.ts.
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import {
  boolean, dictionary, documentedDefault, duration, integer, list, object, oneOrMany, string, withDefault,
  type KeyPath, type Output, type Problem, type Validator,
} from './validate.js';
import { balancerKinds, logLevels, type HostPort } from './types.js';

export const namePattern = /^[A-Za-z0-9][\w.-]*$/;
const nameHint = 'start with a letter or digit, then use letters, digits, ".", "-" and "_"';
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? (match[2] || '0.0.0.0');
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port, text };
}

export function parseStatusRange(text: string): [number, number] | undefined {
  const match = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/.exec(text.trim());
  if (!match) return undefined;
  const low = Number(match[1]);
  const high = match[2] ? Number(match[2]) : low;
  return low <= high ? [low, high] : undefined;
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

const hostNamePattern = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
const hostPattern = string({
  pattern: hostNamePattern,
  check: (s) => (hostNamePattern.test(s) ? undefined : `expected a host name such as "app.example.com" or "*.example.com", got "${s}"`),
});

const serverUrl = string({
  check: (s) => {
    try {
      const url = new URL(s);
      if (!['http:', 'https:', 'h2c:', 'tcp:'].includes(url.protocol)) return `expected an http://, https://, h2c:// or tcp:// URL, got "${s}"`;
      if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return `a server URL has no path or query, got "${s}"`;
      if (!url.hostname) return `expected a URL with a host, got "${s}"`;
      return undefined;
    } catch {
      return `expected a URL such as "http://127.0.0.1:3000", got "${s}"`;
    }
  },
});

const absolutePath = (what: string) => string({ check: (s) => (s.startsWith('/') ? undefined : `${what} starts with "/", got "${s}"`) });
const headerMap = () => dictionary(string(), { keyPattern: tokenPattern, keyHint: 'a header name is an HTTP token' });
/**
 * What a header value that lb sends may hold: field-vchar, SP and HTAB (obs-text too). Nothing
 * above U+00FF: a head is written as latin1, which keeps a character's low byte (U+010D: a CR).
 */
const fieldValuePattern = /^[\t\x20-\x7e\x80-\xff]*$/;
const headerValue = string({ check: (s) => (fieldValuePattern.test(s) ? undefined : 'a header value has no line breaks, NUL, control characters or characters beyond U+00FF') });
/** Headers that lb sends, name to value. */
const headerValues = () => dictionary(headerValue, { keyPattern: tokenPattern, keyHint: 'a header name is an HTTP token' });
const port = integer({ min: 1, max: 65535 });
const weight = withDefault(integer({ min: 0, max: 10_000 }), 1);

/**
 * A router's `tls`: `true` or `false` on HTTP routers (it picks a label router's entrypoint), or
 * what a TCP router does with TLS: `terminate` it with the entrypoint's certificates, or pass it
 * through (`passthrough`, the same as leaving it out).
 */
const routerTls = Object.assign(
  (value: unknown, path: KeyPath, problems: Problem[]): boolean | 'terminate' | 'passthrough' | undefined => {
    if (typeof value === 'boolean' || value === 'terminate' || value === 'passthrough') return value;
    problems.push({ path, message: `expected true or false (an HTTP router), or terminate or passthrough (a TCP router), got ${JSON.stringify(value)}` });
    return undefined;
  },
  { fromText: boolean().fromText, jsonSchema: { enum: [true, false, 'terminate', 'passthrough'] } },
) satisfies Validator<boolean | 'terminate' | 'passthrough'>;

/** `name` (a middleware of the router's own provider) or `name@file`, `name@docker`. */
export const middlewareRefPattern = /^[A-Za-z0-9][\w.-]*(@[a-z][a-z0-9-]*)?$/;
const middlewareRef = string({
  pattern: middlewareRefPattern,
  check: (s) => (middlewareRefPattern.test(s) ? undefined : `expected a middleware name, optionally with its provider ("auth", "auth@file", "auth@docker"), got "${s}"`),
});

export const routerSchema = object({
  entrypoint: string(),
  service: string(),
  middlewares: documentedDefault(list(middlewareRef), 'none'),
  priority: documentedDefault(integer({ min: -1_000_000, max: 1_000_000 }), '`0`'),
  tls: withDefault(routerTls, false),
  match: object({
    host: documentedDefault(oneOrMany(hostPattern), 'any host'),
    pathPrefix: documentedDefault(absolutePath('a path prefix'), 'any path'),
    headers: headerMap(),
    sni: documentedDefault(oneOrMany(hostPattern), 'none: the fallback router'),
  }),
}, ['entrypoint', 'service']);

const healthCheckSchema = object({
  type: documentedDefault(string({ oneOf: ['http', 'tcp', 'grpc'] }), 'grpc with a grpcService, http with a path, else tcp'),
  path: documentedDefault(absolutePath('a path'), '/'),
  port: documentedDefault(port, 'the server port'),
  interval: withDefault(duration({ min: 100 }), '5s'),
  unhealthyInterval: documentedDefault(duration({ min: 100 }), 'interval'),
  timeout: documentedDefault(duration({ min: 10 }), '2s, at most half the interval'),
  rise: withDefault(integer({ min: 1, max: 100 }), 2),
  fall: withDefault(integer({ min: 1, max: 100 }), 3),
  expectStatus: withDefault(oneOrMany(string({ check: (s) => (parseStatusRange(s) ? undefined : `expected a status such as "200" or a range such as "200-399", got "${s}"`) })), '200-399'),
  host: documentedDefault(headerValue, 'the server address'),
  headers: headerValues(),
  send: string(),
  expect: string(),
  grpcService: documentedDefault(string(), '"" (the server as a whole)'),
});

const stickyCookie = (cookie: string) => object({
  cookie: withDefault(string({ check: (s) => (tokenPattern.test(s) ? undefined : `invalid cookie name "${s}"`) }), cookie),
  secure: withDefault(boolean(), false),
});

/** A service that a weighted or mirroring service names: labels write lists of them with "," and ":". */
const serviceRef = string({
  check: (s) => (/^[A-Za-z0-9][^\s,:]*$/.test(s) ? undefined : `expected a service name, with its provider if you like (app-v1, app-v1@docker), got "${s}"`),
});

/** A list entry `{ name, <key>: n }` that a label writes as `name:n` (`app-v1:95`), or `name` alone for the default. */
function namedNumber<T>(entry: Validator<T>, key: string): Validator<T> {
  const fromText = (text: string): unknown => {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return { name: text };
    const number = text.slice(colon + 1).trim();
    return { name: text.slice(0, colon).trim(), [key]: /^-?\d+$/.test(number) ? Number(number) : number };
  };
  return Object.assign((value: unknown, path: KeyPath, problems: Problem[]) => entry(value, path, problems), entry, { fromText });
}

const weightedSchema = object({
  services: list(namedNumber(object({ name: serviceRef, weight: withDefault(integer({ min: 1, max: 10_000 }), 1) }, ['name']), 'weight'), { minItems: 1 }),
  sticky: stickyCookie('lb_weighted'),
}, ['services']);

const mirroringSchema = object({
  service: serviceRef,
  mirrors: list(namedNumber(object({ name: serviceRef, percent: withDefault(integer({ min: 0, max: 100 }), 100) }, ['name']), 'percent'), { minItems: 1 }),
  maxBodySize: withDefault(integer({ min: 0, max: 16 * 1024 * 1024 }), 65536),
  maxInFlight: withDefault(integer({ min: 1, max: 100_000 }), 100),
}, ['service', 'mirrors']);

/** Every key of a service but its servers: what lb.yaml and labels can both set. */
const serviceSettings = {
  balancer: documentedDefault(string({ oneOf: balancerKinds }), 'round_robin'),
  hash: object({ on: string({ oneOf: ['client_ip', 'header', 'cookie'] }), name: string() }, ['on']),
  sticky: stickyCookie('lb_sticky'),
  timeouts: withDefault(object({
    connect: withDefault(duration({ min: 1 }), '5s'),
    responseHeaders: documentedDefault(duration({ min: 1 }), '30s'),
    idle: documentedDefault(duration({ min: 1 }), '60s (http), 1h (tcp)'),
  }), {}),
  healthCheck: healthCheckSchema,
  panicThreshold: withDefault(integer({ min: 0, max: 100 }), 50),
  outlierDetection: withDefault(object({
    consecutiveFailures: withDefault(integer({ min: 1, max: 1000 }), 5),
    baseEjectionTime: withDefault(duration({ min: 1 }), '30s'),
    maxEjectionTime: withDefault(duration({ min: 1 }), '300s'),
    maxEjectionPercent: withDefault(integer({ min: 0, max: 100 }), 50),
  }), {}),
  retries: withDefault(integer({ min: 0, max: 10 }), 1),
  retryBudget: withDefault(integer({ min: 0, max: 100 }), 20),
  retryBufferBytes: withDefault(integer({ min: 0, max: 16 * 1024 * 1024 }), 65536),
  unsafeReuse: withDefault(string({ oneOf: ['never', 'fresh', 'safe', 'always'] }), 'fresh'),
  drainTimeout: withDefault(duration(), '30s'),
  emptyPoolWait: withDefault(duration(), '0s'),
  proxyProtocol: string({ oneOf: ['v1', 'v2'] }),
  http2: withDefault(boolean(), false),
  tls: object({
    caFile: documentedDefault(string({ check: (s) => (s ? undefined : 'expected the path of a PEM file') }), 'the system CAs'),
    serverName: documentedDefault(hostPattern, 'the server host, unless it is an IP address'),
    insecureSkipVerify: withDefault(boolean(), false),
  }),
  weighted: weightedSchema,
  mirroring: mirroringSchema,
};

const serviceKinds = ['weighted', 'mirroring'];

/**
 * A service is one of three kinds: servers with their settings, `weighted` or `mirroring`. The
 * last two pass each request on to other services, whose own settings apply, so they take no
 * other key. Judged on the keys as written, before object() fills in defaults.
 */
function oneServiceKind<V extends Validator<unknown>>(inner: V): V {
  const check = (value: unknown, path: KeyPath, problems: Problem[]) => {
    const keys = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
    const kind = keys.find((key) => serviceKinds.includes(key));
    for (const key of kind ? keys : []) {
      if (key === kind) continue;
      const message = serviceKinds.includes(key)
        ? `a service is either weighted or mirroring, not both: make "${key}" a service of its own`
        : `a ${kind} service passes requests on to the services it names and has no ${key === 'servers' ? 'servers' : `"${key}"`} of its own: ${key === 'servers' ? 'give them to' : 'set it on'} those services`;
      problems.push({ path: [...path, key], atKey: true, message });
    }
    return inner(value, path, problems);
  };
  return Object.assign(check, inner);
}

const renamedServiceKeys = { unsafeOnNewConnection: 'unsafeReuse (true: never, false: always)' };

export const serviceSchema = oneServiceKind(object(serviceSettings, [], renamedServiceKeys));

const serverSchema = object({ url: serverUrl, address: hostPort, weight });

const yamlServiceSchema = oneServiceKind(object({ ...serviceSettings, servers: withDefault(list(serverSchema), []) }, [], renamedServiceKeys));

/** What a container's labels say about the server it is, beside the service's settings. */
export const labelServerSchema = object({
  port: documentedDefault(port, 'the only exposed port'),
  scheme: withDefault(string({ oneOf: ['http', 'https', 'h2c'] }), 'http'),
  weight,
  network: documentedDefault(string({ check: (s) => (s ? undefined : 'expected a network name') }), 'see the address rules'),
});

/**
 * What only a swarm service's labels say, under `lb.swarm.`: how lb reaches its tasks
 * (docs/swarm.md). At most one of them is true; by default the tasks' overlay addresses.
 */
export const swarmLabelSchema = object({
  vip: withDefault(boolean(), false),
  hostPort: withDefault(boolean(), false),
});

const dockerEndpoint = documentedDefault(string({ check: (s) => (/^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+)$/.test(s) ? undefined : `expected unix:///path/to/docker.sock or tcp://host:port, got "${s}"`) }), 'DOCKER_HOST, else unix:///var/run/docker.sock');

/** What the Docker and Swarm providers share: where labels route, and how they are read. */
const labelProviderSettings = {
  enabled: withDefault(boolean(), false),
  endpoint: dockerEndpoint,
  labelPrefix: withDefault(string({ check: (s) => (/^[a-z0-9][a-z0-9._-]*$/.test(s) ? undefined : `a label prefix uses lower-case letters, digits, ".", "-" and "_", got "${s}"`) }), 'lb'),
  exposedByDefault: withDefault(boolean(), false),
  entrypoint: documentedDefault(string(), 'web, else the first HTTP entrypoint'),
  tlsEntrypoint: documentedDefault(string(), 'websecure, when it is defined'),
  network: documentedDefault(oneOrMany(string()), 'none'),
  serveStarting: withDefault(boolean(), false),
};

const dockerProviderSchema = object({
  ...labelProviderSettings,
  hostAddress: withDefault(string(), '127.0.0.1'),
  useBindPort: withDefault(boolean(), false),
  resyncInterval: withDefault(duration({ min: 1000 }), '30s'),
  includeOneOff: withDefault(boolean(), false),
  serveUnhealthy: withDefault(boolean(), false),
});

const pemFile = string({ check: (s) => (s.trim() ? undefined : 'expected the path of a PEM file') });

/** A swarm manager's API: its socket, or its TCP port with TLS (docs/swarm.md). */
const swarmProviderSchema = object({
  ...labelProviderSettings,
  tls: object({ caFile: pemFile, certFile: pemFile, keyFile: pemFile }, ['caFile']),
  refreshInterval: withDefault(duration({ min: 100 }), '1s'),
});

const filePath = string({ check: (s) => (s.trim() ? undefined : 'expected a file path') });

/** `minVersion: "1.2"`; YAML reads an unquoted 1.2 as a number, which means the same. */
const tlsVersion = Object.assign(
  (value: unknown, path: KeyPath, problems: Problem[]): '1.2' | '1.3' | undefined => {
    const text = typeof value === 'number' ? value.toFixed(1) : value;
    if (text === '1.2' || text === '1.3') return text;
    problems.push({ path, message: `must be "1.2" or "1.3", got ${JSON.stringify(value)}` });
    return undefined;
  },
  { fromText: (text: string): unknown => text, jsonSchema: { enum: ['1.2', '1.3', 1.2, 1.3] } },
) satisfies Validator<'1.2' | '1.3'>;

/** HSTS max-age in seconds: a whole number of seconds (`31536000`), or a duration (`8760h`). */
const seconds = Object.assign(
  (value: unknown, path: KeyPath, problems: Problem[]): number | undefined => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
    const ms = typeof value === 'string' ? duration()(value, path, []) : undefined;
    if (ms !== undefined) return Math.floor(ms / 1000);
    problems.push({ path, message: `expected seconds (a whole number such as 31536000) or a duration such as 8760h, got ${JSON.stringify(value)}` });
    return undefined;
  },
  { fromText: (text: string): unknown => (/^\d+$/.test(text) ? Number(text) : text), jsonSchema: { anyOf: [{ type: 'integer', minimum: 0 }, duration().jsonSchema] } },
) satisfies Validator<number>;

/** The `tls` of an https entrypoint, or of a tcp entrypoint whose routers terminate TLS. */
const tlsSchema = object({
  certificates: withDefault(list(object({ certFile: filePath, keyFile: filePath }, ['certFile', 'keyFile'])), []),
  minVersion: withDefault(tlsVersion, '1.2'),
  strictSNI: withDefault(boolean(), false),
  hsts: object({
    maxAge: seconds,
    includeSubDomains: withDefault(boolean(), false),
  }, ['maxAge']),
  clientAuth: object({
    caFiles: oneOrMany(filePath),
    mode: withDefault(string({ oneOf: ['require', 'verify_if_given'] as const, deprecated: { verifyIfGiven: 'verify_if_given' } }), 'require'),
    forwardSubject: withDefault(boolean(), false),
  }, ['caFiles']),
  acme: documentedDefault(string(), 'none'),
});

/** SO_REUSEPORT for TCP listeners came in Node 23.1 and 22.12. */
function reusePortSupported(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** `workers: auto` (one per CPU the process may use) or a count from 1 to 256. */
const workerCount = Object.assign(
  (value: unknown, path: KeyPath, problems: Problem[]): number | undefined => {
    if (value === 'auto') return availableParallelism();
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 256) return value;
    problems.push({ path, message: `expected "auto" or a whole number from 1 to 256, got ${JSON.stringify(value)}` });
    return undefined;
  },
  { fromText: (text: string): unknown => text, jsonSchema: { anyOf: [{ const: 'auto' }, { type: 'integer', minimum: 1, maximum: 256 }], default: 1 }, defaultValue: 1, defaulted: true as const },
) satisfies Validator<number>;

const acmeResolverSchema = object({
  directory: string({ check: (s) => (/^https:\/\/[^/\s]+/.test(s) ? undefined : `expected the https:// URL of an ACME directory, got "${s}"`) }),
  email: string({ check: (s) => (/^[^@\s]+@[^@\s]+$/.test(s) ? undefined : `expected an e-mail address, got "${s}"`) }),
  storage: string({ check: (s) => (s ? undefined : 'expected a folder') }),
  challenge: withDefault(string({ oneOf: ['http-01', 'tls-alpn-01'] as const }), 'http-01'),
  caFile: string(),
  backoff: withDefault(object({
    min: withDefault(duration({ min: 100 }), '30s'),
    max: withDefault(duration({ min: 100 }), '1h'),
  }), {}),
}, ['directory', 'storage']);

/** A regular expression (JavaScript syntax, which reads Traefik's usual Go patterns the same). */
const regex = string({
  check: (s) => {
    try {
      new RegExp(s);
      return undefined;
    } catch (err) {
      return `invalid regular expression: ${(err as Error).message}`;
    }
  },
});

/** `name:hash`, one htpasswd line: bcrypt ($2y$), Apache MD5 ($apr1$) or SHA1 ({SHA}). */
const htpasswdUser = string({ check: (s) => (/^[^:\s]+:\S+$/.test(s) ? undefined : `expected "user:hash" as htpasswd writes it (htpasswd -nB user), got "${s}"`) });


/**
 * A regex replacement that becomes a request target: visible ASCII only, as a target is
 * (percent-encode the rest). Its $1 groups come from the request's own target.
 */
const targetReplacement = string({ check: (s) => (/^[\x21-\x7e]*$/.test(s) ? undefined : `a replacement is a URL: visible ASCII without spaces (percent-encode others), got ${JSON.stringify(s)}`) });

/** Which source rateLimit and inFlightReq count a request against (Traefik's sourceCriterion); one of the two. */
const sourceCriterion = object({
  ipStrategy: object({ depth: documentedDefault(integer({ min: 0, max: 64 }), '0: the client address') }),
  requestHeaderName: documentedDefault(string({ check: (s) => (tokenPattern.test(s) ? undefined : `a header name is an HTTP token, got "${s}"`) }), 'none'),
});

const authAddress = string({
  check: (s) => {
    try {
      const url = new URL(s);
      return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : `expected an http:// or https:// URL, got "${s}"`;
    } catch {
      return `expected a URL such as "http://auth:4181/verify", got "${s}"`;
    }
  },
});

/**
 * `middlewares.NAME`: exactly one of these keys, each a middleware type with Traefik's name and
 * settings. What each does is in docs/middlewares.md.
 */
export const middlewareTypes = {
  // An empty value removes the header.
  headers: object({ customRequestHeaders: headerValues(), customResponseHeaders: headerValues() }),
  stripPrefix: object({ prefixes: oneOrMany(absolutePath('a prefix')) }, ['prefixes']),
  replacePathRegex: object({ regex, replacement: targetReplacement }, ['regex', 'replacement']),
  redirectScheme: object({
    scheme: string({ oneOf: ['http', 'https'] as const }),
    port: documentedDefault(port, 'the default port of the scheme'),
    permanent: withDefault(boolean(), false),
  }, ['scheme']),
  redirectRegex: object({ regex, replacement: headerValue, permanent: withDefault(boolean(), false) }, ['regex', 'replacement']),
  ipAllowList: object({
    sourceRange: oneOrMany(cidr),
    ipStrategy: object({ depth: documentedDefault(integer({ min: 0, max: 64 }), '0: the client address') }),
  }, ['sourceRange']),
  buffering: object({ maxRequestBodyBytes: integer({ min: 0, max: 2 ** 40 }) }, ['maxRequestBodyBytes']),
  basicAuth: object({
    users: documentedDefault(oneOrMany(htpasswdUser), 'none'),
    usersFile: documentedDefault(filePath, 'none'),
    realm: withDefault(string({ check: (s) => (fieldValuePattern.test(s) && !/["\\]/.test(s) ? undefined : 'a realm has no quotes, backslashes, line breaks, control characters or characters beyond U+00FF') }), 'lb'),
    removeHeader: withDefault(boolean(), true),
  }),
  rateLimit: object({
    average: integer({ min: 0, max: 1_000_000_000 }),
    period: withDefault(duration({ min: 1 }), '1s'),
    burst: withDefault(integer({ min: 1, max: 1_000_000_000 }), 1),
    sourceCriterion: documentedDefault(sourceCriterion, 'the client address'),
  }, ['average']),
  inFlightReq: object({
    amount: integer({ min: 1, max: 1_000_000 }),
    sourceCriterion: documentedDefault(sourceCriterion, 'the client address'),
  }, ['amount']),
  compress: object({
    encodings: withDefault(oneOrMany(string({ oneOf: ['br', 'gzip'] as const })), ['br', 'gzip']),
    minResponseBodyBytes: withDefault(integer({ min: 0, max: 2 ** 31 }), 1024),
    includedContentTypes: documentedDefault(oneOrMany(string({ check: (s) => (/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(s) ? undefined : `expected a lower-case media type such as "application/json", got "${s}"`) })), 'text types'),
  }),
  forwardAuth: object({
    address: authAddress,
    authResponseHeaders: documentedDefault(oneOrMany(string({ check: (s) => (tokenPattern.test(s) ? undefined : `a header name is an HTTP token, got "${s}"`) })), 'none'),
    trustForwardHeader: withDefault(boolean(), false),
    timeout: withDefault(duration({ min: 1 }), '5s'),
  }, ['address']),
};

export type MiddlewareType = keyof typeof middlewareTypes;

const middlewareFields = object(middlewareTypes);

/** One middleware: exactly one type key. */
const middlewareSchema = Object.assign(
  (value: unknown, path: KeyPath, problems: Problem[]): Output<typeof middlewareFields> | undefined => {
    const checked = middlewareFields(value, path, problems);
    if (checked === undefined) return undefined;
    const types = Object.keys(checked);
    if (types.length === 1) return checked;
    problems.push({ path, message: types.length === 0 ? `a middleware needs one type: ${Object.keys(middlewareTypes).join(', ')}` : `a middleware has exactly one type, got ${types.join(' and ')}: define one middleware for each` });
    return undefined;
  },
  { fromText: middlewareFields.fromText, jsonSchema: { ...middlewareFields.jsonSchema, minProperties: 1, maxProperties: 1 }, fields: middlewareFields.fields },
) satisfies Validator<Output<typeof middlewareFields>>;

export const middlewaresSchema = dictionary(middlewareSchema, { keyPattern: namePattern, keyHint: nameHint });

export const configSchema = object({
  entrypoints: withDefault(dictionary(
    object({
      address: hostPort,
      protocol: withDefault(string({ oneOf: ['http', 'https', 'tcp'] as const }), 'http'),
      trustedProxies: withDefault(list(cidr), []),
      proxyProtocol: object({ trustedIPs: list(cidr) }, ['trustedIPs']),
      maxConnections: documentedDefault(integer({ min: 1, max: 10_000_000 }), "the process's budget: (open-file limit − 128) ÷ 2"),
      maxConnectionsPerIP: documentedDefault(integer({ min: 1, max: 10_000_000 }), 'no limit'),
      minRequestBodyRate: object({
        bytesPerSecond: integer({ min: 1 }),
        grace: withDefault(duration({ min: 1 }), '5s'),
      }, ['bytesPerSecond']),
      timeouts: withDefault(object({
        requestHeaders: withDefault(duration({ min: 1 }), '10s'),
        requestBody: withDefault(duration({ min: 1 }), '60s'),
        idle: documentedDefault(duration({ min: 1 }), '60s (http, https), 1h (tcp)'),
      }), {}),
      tls: tlsSchema,
      redirect: object({
        to: string(),
        port: documentedDefault(port, 'the port of `to`'),
      }, ['to']),
      http2: withDefault(object({
        enabled: withDefault(boolean(), true),
        cleartext: withDefault(boolean(), false),
        maxConcurrentStreams: withDefault(integer({ min: 1, max: 10_000 }), 100),
        maxHeaderListSize: withDefault(integer({ min: 1024, max: 1024 * 1024 }), 16384),
      }), {}),
    }, ['address']),
    { keyPattern: namePattern, keyHint: nameHint },
  ), {}),
  admin: withDefault(object({
    address: withDefault(hostPort, '127.0.0.1:9090'),
    token: string({ check: (s) => (s.length >= 16 ? undefined : 'use a token of at least 16 characters') }),
    insecure: withDefault(boolean(), false),
  }), {}),
  accessLog: withDefault(object({ enabled: withDefault(boolean(), false), path: documentedDefault(string(), 'stdout') }), {}),
  routers: withDefault(dictionary(routerSchema, { keyPattern: namePattern, keyHint: nameHint }), {}),
  services: withDefault(dictionary(yamlServiceSchema, { keyPattern: namePattern, keyHint: nameHint }), {}),
  middlewares: withDefault(middlewaresSchema, {}),
  acme: withDefault(dictionary(acmeResolverSchema, { keyPattern: namePattern, keyHint: nameHint }), {}),
  providers: withDefault(object({ docker: withDefault(dockerProviderSchema, {}), swarm: withDefault(swarmProviderSchema, {}) }), {}),
  log: withDefault(object({ level: withDefault(string({ oneOf: logLevels }), 'info') }), {}),
  shutdownTimeout: withDefault(duration(), '30s'),
  workers: workerCount,
  workerListen: withDefault(string({
    oneOf: ['shared', 'reuse_port'] as const,
    deprecated: { reusePort: 'reuse_port' },
    check: (value) => (value === 'reuse_port' && !reusePortSupported() ? `reuse_port needs Node.js 22.12 or later (this is ${process.version}); use "shared"` : undefined),
  }), 'shared'),
});

export type RawConfig = NonNullable<Output<typeof configSchema>>;
export type RawRouter = NonNullable<Output<typeof routerSchema>>;
export type RawServiceSettings = NonNullable<Output<typeof serviceSchema>>;
export type RawMiddleware = NonNullable<Output<typeof middlewareSchema>>;
export type RawLabelServer = NonNullable<Output<typeof labelServerSchema>>;
