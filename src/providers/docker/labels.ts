// The label grammar. A label names a key path of lb.yaml's router or service schema
// (config/schema.ts), and its text is checked by that key's own validator, so labels and lb.yaml
// cannot drift apart. Label keys are compared case-insensitively; names are kept as written.
import { matchProblem, normaliseMiddleware, normaliseRouter, normaliseService, routerTlsProblem, terminateProblem } from '../../config/normalise.js';
import { labelServerSchema, middlewaresSchema, namePattern, routerSchema, serviceSchema, type RawLabelServer, type RawMiddleware } from '../../config/schema.js';
import { didYouMean } from '../../config/suggest.js';
import { routingProtocol, type EntrypointConfig, type MiddlewareConfig, type Protocol, type RouterConfig, type ServiceConfig } from '../../config/types.js';
import { formatPath, type KeyPath, type Problem, type Validator } from '../../config/validate.js';
import { mergeSettings, type SettingsTree } from './settings-tree.js';

export interface LabelError {
  label: string;
  message: string;
}

export interface LabelRouter {
  protocol: Protocol;
  /** Without an entrypoint label the router's entrypoint is the provider's default, set later. */
  hasEntrypoint: boolean;
  /** The label that sets (or would set) its entrypoint, for problems with it. */
  entrypointLabel: string;
  /** `tls=true`: without an entrypoint label, the default is providers.docker.tlsEntrypoint. */
  tls: boolean;
  config: RouterConfig;
}

/** A service as one container's labels define it. */
export interface LabelService {
  name: string;
  protocol: Protocol;
  /** The service settings as written (label text read into YAML values): replicas merge these. */
  settings: SettingsTree;
  /** The same, checked and normalised: what this container alone would make of the service. */
  config: ServiceConfig;
  /** What the container says about its own server: port, scheme, weight, network. */
  server: RawLabelServer;
  /** The label that sets the port, for the reason a container is left out without one. */
  portLabel: string;
}

export interface ContainerLabels {
  routers: LabelRouter[];
  services: Map<string, LabelService>;
  /** `lb.http.middlewares.NAME.TYPE.KEY`: the middlewares this container defines (name@docker). */
  middlewares: Map<string, MiddlewareConfig>;
}


const routerShortcuts: Readonly<Record<string, readonly string[]>> = { host: ['match', 'host'], path: ['match', 'pathPrefix'], pathprefix: ['match', 'pathPrefix'], headers: ['match', 'headers'], sni: ['match', 'sni'] };
const routerLabelKeys = ['host', 'path', 'pathPrefix', 'headers', 'sni', 'entrypoint', 'service', 'priority', 'tls', 'middlewares'];
/** One middleware's schema: its type keys. */
const middlewareSchema = middlewaresSchema.entry!;
const keyAliases: Readonly<Record<string, string>> = { healthcheck: 'healthCheck' };
const serviceFields = { ...serviceSchema.fields!, ...labelServerSchema.fields! };
const serverKeys = new Set(Object.keys(labelServerSchema.fields!));
/** What may follow the prefix, for suggestions: the short form's keys first, then the sections. */
const shortFormKeys = [...routerLabelKeys.filter((k) => k !== 'service'), ...Object.keys(serviceFields), 'enable', 'http', 'tcp', 'services'];

/** Docker's `com.docker.compose.service`, else the container name, made safe as a lb name. */
export function defaultName(containerName: string, composeService: string | undefined): string {
  const base = (composeService ?? containerName).replace(/^\//, '');
  return base.replace(/[^\w.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'container';
}

/**
 * The name of the short form's router and pool for a container that is not a compose service:
 * what the router matches on (hosts sorted, the path prefix, then any headers, entrypoint and
 * priority), so that containers started with the same labels are replicas of one pool, as with
 * nginx-proxy's VIRTUAL_HOST, and containers that route differently are not.
 */
function matchName(router: RouterConfig, entrypoint: string | undefined): string {
  const { hosts, pathPrefix, headers } = router.match;
  const conditions = headers.map(([name, value]) => `${name}=${value}`).sort().join('&');
  return `${[...hosts].sort().join(',')}${pathPrefix ?? ''}${conditions ? `?${conditions}` : ''}${entrypoint !== undefined ? `@${entrypoint}` : ''}${router.priority !== undefined ? `#${router.priority}` : ''}`;
}

interface Section {
  /** The label that starts the section, for problems on the whole router or service. */
  label: string;
  tree: SettingsTree;
  /** Which label wrote each key path, to report a problem at the label. */
  sources: Map<string, string>;
}

function section(label: string): Section {
  return { label, tree: {}, sources: new Map() };
}

/** Writes a value at a key path; returns the label that already wrote it (in another case), if any. */
function setAt(target: Section, path: KeyPath, value: unknown, label: string): string | undefined {
  const key = formatPath(path);
  const earlier = target.sources.get(key);
  if (earlier !== undefined && earlier !== label) return earlier;
  let node = target.tree;
  for (const step of path.slice(0, -1)) {
    const next = node[step as string];
    node = (next && typeof next === 'object' && !Array.isArray(next) ? next : (node[step as string] = {})) as SettingsTree;
  }
  const last = path[path.length - 1] as string;
  const existing = node[last];
  // `headers=A=1` and `headers.B=2` add up.
  node[last] = existing && typeof existing === 'object' && value && typeof value === 'object' ? { ...existing, ...value } : value;
  target.sources.set(key, label);
  return undefined;
}

/**
 * Follows `parts` (as written in the label) through the schema. Returns the canonical key path
 * and the validator at its end, or a message for the label.
 */
function walk(fields: Readonly<Record<string, Validator<unknown>>>, parts: readonly string[], example: string): { path: string[]; leaf: Validator<unknown> } | { message: string } {
  const path: string[] = [];
  let current: Validator<unknown> | undefined;
  let known = fields;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (current?.entry) {
      // A dictionary (headers): the part is a name, and the entry is the leaf.
      if (i !== parts.length - 1) return { message: `unknown key "${parts[i + 1]}"` };
      path.push(part);
      return { path, leaf: current.entry };
    }
    if (current && !current.fields) return { message: `unknown key "${part}": ${path.join('.')} takes a value, not keys` };
    const wanted = keyAliases[part.toLowerCase()] ?? part;
    const key = Object.keys(known).find((k) => k.toLowerCase() === wanted.toLowerCase());
    if (!key) return { message: `unknown key "${part}"${didYouMean(part, Object.keys(known))}` };
    path.push(key);
    current = known[key]!;
    known = current.fields ?? {};
  }
  if (!current) return { message: `needs a key, for example ${example}` };
  if (current.fields) return { message: `"${path.join('.')}" needs a key: ${Object.keys(current.fields).join(', ')}` };
  return { path, leaf: current };
}

/** Maps a problem at a key path back to the label that wrote it, or the nearest one above or below it. */
function labelOf(target: Section, path: KeyPath): string {
  for (let end = path.length; end > 0; end--) {
    const label = target.sources.get(formatPath(path.slice(0, end)));
    if (label) return label;
  }
  // A problem with a whole mapping (a TCP router's match) is reported at a label inside it.
  const inside = formatPath(path);
  for (const [written, label] of target.sources) if (inside && written.startsWith(`${inside}.`)) return label;
  return target.label;
}

/**
 * The entrypoint of a label router: its `entrypoint` label, else providers.docker.tlsEntrypoint for
 * a router with `tls=true`, else providers.docker.entrypoint. An error names the label to fix.
 */
export function placeRouter(
  router: LabelRouter,
  defaults: { entrypoint?: string | undefined; tlsEntrypoint?: string | undefined },
  entrypoints: ReadonlyMap<string, EntrypointConfig>,
): { config: RouterConfig; error?: LabelError } {
  const fallback = router.tls ? defaults.tlsEntrypoint : defaults.entrypoint;
  const config = router.hasEntrypoint || fallback === undefined ? router.config : { ...router.config, entrypoint: fallback };
  const label = router.entrypointLabel;
  if (!router.hasEntrypoint && fallback === undefined) {
    const message = router.tls ? 'tls=true, but there is no https entrypoint for it: define entrypoint websecure (protocol: https), set providers.docker.tlsEntrypoint, or set this label' : 'no entrypoint: set this label or providers.docker.entrypoint';
    return { config, error: { label, message } };
  }
  const ep = entrypoints.get(config.entrypoint);
  if (!ep) return { config, error: { label, message: `entrypoint "${config.entrypoint}" is not defined (defined: ${[...entrypoints.keys()].join(', ')})` } };
  if (routingProtocol(ep.protocol) !== router.protocol) return { config, error: { label, message: `entrypoint "${config.entrypoint}" is ${ep.protocol.toUpperCase()}, but this is a ${router.protocol.toUpperCase()} router` } };
  const noCertificates = terminateProblem(config, ep);
  if (noCertificates) return { config, error: { label, message: noCertificates } };
  return { config };
}

/**
 * Reads a container's labels under `prefix`. Every problem is returned with its label and a
 * suggestion; a container with any problem is left out whole, so half a configuration never
 * serves traffic. `name`: the container's default name; `composeService`: set for compose
 * containers, whose replicas share their service's name.
 */
export function parseLabels(
  labels: Readonly<Record<string, string>>,
  options: { prefix: string; exposedByDefault: boolean; name: string; composeService?: string },
): { enabled: boolean; config?: ContainerLabels; errors: LabelError[]; warnings: LabelError[] } {
  const prefix = `${options.prefix}.`;
  const errors: LabelError[] = [];
  const warnings: LabelError[] = [];
  const fail = (label: string, message: string) => errors.push({ label, message });
  const own = Object.entries(labels).filter(([key]) => key.toLowerCase().startsWith(prefix));

  const enableEntry = own.find(([key]) => key.slice(prefix.length).toLowerCase() === 'enable');
  if (enableEntry && enableEntry[1] !== 'true' && enableEntry[1] !== 'false') {
    fail(enableEntry[0], `expected true or false, got "${enableEntry[1]}"`);
    return { enabled: false, errors, warnings };
  }
  const enabled = enableEntry === undefined ? options.exposedByDefault && own.length > 0 : enableEntry[1] === 'true';
  if (!enabled) return { enabled: false, errors, warnings };

  const routers = new Map<string, Section & { protocol: Protocol }>();
  const services = new Map<string, Section & { protocol?: Protocol; server: Section }>();
  const shortRouter = section(`${prefix}host`);
  const shortService = Object.assign(section(prefix.slice(0, -1)), { server: section(prefix.slice(0, -1)) });
  const router = (name: string, protocol: Protocol, label: string) => {
    let found = routers.get(name);
    if (found && found.protocol !== protocol) {
      fail(label, `router "${name}" is defined both as http and as tcp; give them different names`);
      return undefined;
    }
    if (!found) routers.set(name, (found = Object.assign(section(`${prefix}${protocol}.routers.${name}`), { protocol })));
    return found;
  };
  const service = (name: string, protocol: Protocol | undefined, label: string) => {
    let found = services.get(name);
    if (found?.protocol && protocol && found.protocol !== protocol) {
      fail(label, `service "${name}" is defined both as http and as tcp; give them different names`);
      return undefined;
    }
    if (!found) services.set(name, (found = Object.assign(section(`${prefix}services.${name}`), { server: section(`${prefix}services.${name}`), ...(protocol ? { protocol } : {}) })));
    else if (protocol) found.protocol = protocol;
    return found;
  };
  const setServiceKey = (target: Section & { server: Section }, parts: readonly string[], value: string, label: string, example: string) => {
    const found = walk(serviceFields, parts, example);
    if ('message' in found) return fail(label, found.message);
    const into = serverKeys.has(found.path[0]!) ? target.server : target;
    const earlier = setAt(into, found.path, found.leaf.fromText(value), label);
    if (earlier) fail(label, `sets the same key as ${earlier} (label keys are compared without case); keep one`);
  };
  const setRouterKey = (target: Section, parts: readonly string[], value: string, label: string, example: string) => {
    const shortcut = routerShortcuts[parts[0]!.toLowerCase()];
    const found = walk(routerSchema.fields!, shortcut ? [...shortcut, ...parts.slice(1)] : parts, example);
    if ('message' in found) return fail(label, parts.length === 1 ? `unknown key "${parts[0]}"${didYouMean(parts[0]!, routerLabelKeys)}` : found.message);
    if (found.path[0] === 'service' && !namePattern.test(value)) return fail(label, `invalid service name "${value}": use letters, digits, ".", "-" and "_"`);
    const earlier = setAt(target, found.path, found.leaf.fromText(value), label);
    if (earlier) fail(label, `sets the same key as ${earlier} (label keys are compared without case); keep one`);
  };
  const isRouterKey = (parts: readonly string[]) => routerShortcuts[parts[0]!.toLowerCase()] !== undefined || (parts.length === 1 && ['entrypoint', 'priority', 'tls', 'middlewares'].includes(parts[0]!.toLowerCase()));
  const middlewares = new Map<string, Section>();
  const setMiddlewareKey = (parts: readonly string[], value: string, label: string) => {
    const [name, ...keys] = parts;
    if (!name || !keys.length) return fail(label, `expected ${prefix}http.middlewares.NAME.TYPE.KEY, for example ${prefix}http.middlewares.auth.basicAuth.users`);
    if (!namePattern.test(name)) return fail(label, `invalid middleware name "${name}": use letters, digits, ".", "-" and "_"`);
    const found = walk(middlewareSchema.fields!, keys, `${prefix}http.middlewares.${name}.stripPrefix.prefixes`);
    if ('message' in found) return fail(label, found.message);
    let target = middlewares.get(name);
    if (!target) middlewares.set(name, (target = section(`${prefix}http.middlewares.${name}`)));
    const earlier = setAt(target, found.path, found.leaf.fromText(value), label);
    if (earlier) fail(label, `sets the same key as ${earlier} (label keys are compared without case); keep one`);
  };

  for (const [label, raw] of own) {
    const value = raw.trim();
    const parts = label.slice(prefix.length).split('.');
    const head = parts[0]!.toLowerCase();
    if (head === 'enable') continue;
    if (head === 'http' && parts[1]?.toLowerCase() === 'middlewares') {
      setMiddlewareKey(parts.slice(2), value, label);
      continue;
    }
    if (head === 'http' || head === 'tcp' || head === 'services') {
      const protocol = head === 'services' ? undefined : head;
      const kind = head === 'services' ? 'services' : parts[1]?.toLowerCase();
      const [name, ...keys] = head === 'services' ? parts.slice(1) : parts.slice(2);
      if ((kind !== 'routers' && kind !== 'services') || !name || !keys.length) {
        const wrongKind = head !== 'services' && parts[1] && kind !== 'routers' && kind !== 'services' ? ` ("${parts[1]}"${didYouMean(parts[1], ['routers', 'services'])})` : '';
        fail(label, `expected ${prefix}${head === 'services' ? 'services' : `${head}.${kind === 'services' ? 'services' : 'routers'}`}.NAME.KEY${wrongKind}`);
        continue;
      }
      if (!namePattern.test(name)) {
        fail(label, `invalid ${kind === 'routers' ? 'router' : 'service'} name "${name}": use letters, digits, ".", "-" and "_"`);
        continue;
      }
      const example = kind === 'routers' ? `${prefix}${head}.routers.${name}.host` : `${label}.port`;
      if (kind === 'routers') {
        const target = router(name, protocol!, label);
        if (target) setRouterKey(target, keys, value, label, example);
      } else {
        const target = service(name, protocol, label);
        if (target) setServiceKey(target, keys, value, label, example);
      }
      continue;
    }
    if (isRouterKey(parts)) setRouterKey(shortRouter, parts, value, label, `${prefix}host`);
    else if (serviceFields[keyAliases[head] ?? ''] || Object.keys(serviceFields).some((k) => k.toLowerCase() === head)) setServiceKey(shortService, parts, value, label, `${prefix}port`);
    else fail(label, `unknown key "${parts[0]}"${didYouMean(parts[0]!, shortFormKeys)}`);
  }
  // Values are checked even after a key error, so that every problem is reported at once.

  const check = <T,>(target: Section, schema: Validator<T>, tree: unknown): T | undefined => {
    const problems: Problem[] = [];
    const checked = schema(tree, [], problems);
    for (const problem of problems) (problem.warning ? warnings : errors).push({ label: labelOf(target, problem.path), message: problem.message });
    return problems.some((p) => !p.warning) ? undefined : checked;
  };

  // The short form: a router when a host or path is given, and one service for the container.
  const shortMatch = shortRouter.tree.match as { host?: unknown; pathPrefix?: unknown } | undefined;
  const hasShortRouter = shortRouter.sources.size > 0;
  if (hasShortRouter && shortMatch?.host === undefined && shortMatch?.pathPrefix === undefined) {
    fail([...shortRouter.sources.values()][0]!, `${prefix}headers, ${prefix}entrypoint, ${prefix}priority, ${prefix}tls and ${prefix}middlewares need ${prefix}host or ${prefix}path`);
  }
  let shortName = options.name;
  if (hasShortRouter && options.composeService === undefined) {
    const checked = routerSchema({ entrypoint: '', service: '', ...shortRouter.tree }, [], []);
    if (checked) shortName = matchName(normaliseRouter('', checked), checked.entrypoint || undefined);
  }
  const hasShortService = shortService.sources.size > 0 || shortService.server.sources.size > 0;
  if (hasShortService || hasShortRouter || (services.size === 0 && routers.size === 0)) {
    // An explicit lb.services.<name> of the same name adds to the short form; its labels win.
    const explicit = services.get(shortName);
    if (explicit) {
      for (const [from, into] of [[explicit, shortService], [explicit.server, shortService.server]] as const) {
        mergeSettings(into.tree, from.tree);
        for (const [path, label] of from.sources) into.sources.set(path, label);
      }
      if (explicit.protocol) Object.assign(shortService, { protocol: explicit.protocol });
    }
    services.set(shortName, shortService);
  }
  if (hasShortRouter) routers.set(shortName, Object.assign(shortRouter, { protocol: 'http' as const }));

  // A router without a service uses the container's only service, or the short form's.
  for (const [, r] of routers) {
    if (r.tree.service === undefined) r.tree.service = services.size === 1 ? [...services.keys()][0]! : shortName;
    const name = r.tree.service as string;
    if (typeof name === 'string' && !services.has(name)) services.set(name, Object.assign(section(`${prefix}services.${name}`), { server: shortService.server }));
    if (r.protocol === 'tcp') {
      const svc = services.get(name);
      if (svc?.protocol === 'http') fail(labelOf(r, ['service']), `service "${name}" is an http service (${prefix}http.services.${name}), but this is a tcp router`);
      else if (svc) svc.protocol = 'tcp';
    }
  }

  const parsedRouters: LabelRouter[] = [];
  for (const [name, r] of routers) {
    const hasEntrypoint = r.tree.entrypoint !== undefined;
    const entrypointLabel = r.sources.get('entrypoint') ?? (r === shortRouter ? `${prefix}entrypoint` : `${r.label}.entrypoint`);
    const checked = check(r, routerSchema, { entrypoint: '', ...r.tree });
    const problem = checked && matchProblem(r.protocol, checked.match);
    const tlsProblem = checked && routerTlsProblem(r.protocol, checked.tls);
    if (problem) fail(labelOf(r, ['match', problem.key]), problem.message);
    else if (tlsProblem) fail(labelOf(r, ['tls']), tlsProblem);
    else if (checked) parsedRouters.push({ protocol: r.protocol, hasEntrypoint, entrypointLabel, tls: checked.tls === true, config: normaliseRouter(name, checked) });
  }
  const parsedServices = new Map<string, LabelService>();
  for (const [name, s] of services) {
    const protocol = s.protocol ?? 'http';
    const settings = check(s, serviceSchema, s.tree);
    const server = check(s.server, labelServerSchema, s.server.tree);
    if (!settings || !server) continue;
    const config = normaliseService(name, protocol, settings, [], (path, message, _atKey, warning) => (warning ? warnings : errors).push({ label: labelOf(s, path), message }));
    const portLabel = s.server.sources.get('port') ?? (s === shortService ? `${prefix}port` : `${s.label}.port`);
    parsedServices.set(name, { name, protocol, settings: s.tree, config, server, portLabel });
  }
  const parsedMiddlewares = new Map<string, MiddlewareConfig>();
  for (const [name, m] of middlewares) {
    const raw = check(m, middlewareSchema, m.tree);
    const config = raw === undefined ? undefined : normaliseMiddleware(name, raw as RawMiddleware, (path, message, _atKey, warning) => (warning ? warnings : errors).push({ label: labelOf(m, path), message }));
    if (config) parsedMiddlewares.set(name, config);
  }
  if (errors.length) return { enabled: true, errors, warnings };
  return { enabled: true, config: { routers: parsedRouters, services: parsedServices, middlewares: parsedMiddlewares }, errors, warnings };
}
