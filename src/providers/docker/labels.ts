import { parseDuration } from '../../config/duration.js';
import { didYouMean } from '../../config/suggest.js';
import { balancerKinds, type BalancerKind } from '../../config/types.js';

export interface LabelError {
  label: string;
  message: string;
}

export interface LabelRouter {
  name: string;
  protocol: 'http' | 'tcp';
  entrypoint?: string;
  service: string;
  hosts: string[];
  pathPrefix?: string;
  headers: Array<[string, string]>;
  priority?: number;
}

export interface LabelHealthcheck {
  path?: string;
  port?: number;
  intervalMs?: number;
  timeoutMs?: number;
  rise?: number;
  fall?: number;
}

export interface LabelService {
  name: string;
  port?: number;
  scheme?: 'http' | 'https';
  weight?: number;
  balancer?: BalancerKind;
  network?: string;
  healthcheck?: LabelHealthcheck;
}

export interface ContainerLabels {
  routers: LabelRouter[];
  services: Map<string, LabelService>;
}

const shortKeys = ['enable', 'host', 'path', 'port', 'scheme', 'weight', 'network', 'healthcheck', 'http', 'tcp', 'services'] as const;
const httpRouterKeys = ['host', 'path', 'headers', 'entrypoint', 'service', 'priority'] as const;
const tcpRouterKeys = ['entrypoint', 'service'] as const;
const serviceKeys = ['port', 'scheme', 'weight', 'balancer', 'network', 'healthcheck'] as const;
const healthcheckKeys = ['path', 'port', 'interval', 'timeout', 'rise', 'fall'] as const;

const hostPattern = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const namePattern = /^[A-Za-z0-9][\w.-]*$/;
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Docker's `com.docker.compose.service`, else the container name, made safe as a lb name. */
export function defaultName(containerName: string, composeService: string | undefined): string {
  const base = (composeService ?? containerName).replace(/^\//, '');
  return base.replace(/[^\w.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'container';
}

/**
 * Reads a container's labels under `prefix`. Every problem is returned with its label and a
 * suggestion; a container with any problem is left out whole, so half a configuration never
 * serves traffic.
 */
export function parseLabels(
  labels: Readonly<Record<string, string>>,
  options: { prefix: string; exposedByDefault: boolean; name: string },
): { enabled: boolean; config?: ContainerLabels; errors: LabelError[] } {
  const prefix = `${options.prefix}.`;
  const errors: LabelError[] = [];
  const fail = (label: string, message: string) => errors.push({ label, message });
  const own = Object.entries(labels).filter(([key]) => key.startsWith(prefix));

  const enableLabel = labels[`${prefix}enable`];
  if (enableLabel !== undefined && enableLabel !== 'true' && enableLabel !== 'false') {
    fail(`${prefix}enable`, `expected true or false, got "${enableLabel}"`);
    return { enabled: false, errors };
  }
  const enabled = enableLabel === undefined ? options.exposedByDefault && own.length > 0 : enableLabel === 'true';
  if (!enabled) return { enabled: false, errors };

  const short: LabelService = { name: options.name };
  let shortHosts: string[] | undefined;
  let shortPath: string | undefined;
  const routers = new Map<string, LabelRouter>();
  const services = new Map<string, LabelService>();
  const service = (name: string) => {
    let found = services.get(name);
    if (!found) services.set(name, (found = { name }));
    return found;
  };
  const router = (name: string, protocol: 'http' | 'tcp', label: string) => {
    let found = routers.get(name);
    if (found && found.protocol !== protocol) {
      fail(label, `router "${name}" is defined both as http and as tcp; give them different names`);
      return undefined;
    }
    if (!found) routers.set(name, (found = { name, protocol, service: '', hosts: [], headers: [] }));
    return found;
  };

  for (const [label, raw] of own) {
    const value = raw.trim();
    const parts = label.slice(prefix.length).split('.');
    const [head] = parts;
    const unknown = (key: string, known: readonly string[]) => fail(label, `unknown key "${key}"${didYouMean(key, known)}`);
    if (!(shortKeys as readonly string[]).includes(head!)) {
      unknown(head!, shortKeys);
      continue;
    }
    if (head === 'enable') continue;
    if (parts.length === 1) {
      if (head === 'http' || head === 'tcp' || head === 'services' || head === 'healthcheck') {
        const example = head === 'services' ? 'services.NAME.port' : head === 'healthcheck' ? 'healthcheck.path' : `${head}.routers.NAME.entrypoint`;
        fail(label, `"${label}" needs ${head === 'healthcheck' ? 'a key' : 'a name and a key'}, for example ${prefix}${example}`);
        continue;
      }
      const applied = applyServiceKey(short, head!, value, label, fail) || applyShortRouterKey(head!, value, label, fail, (hosts) => (shortHosts = hosts), (path) => (shortPath = path));
      if (!applied) unknown(head!, shortKeys);
      continue;
    }
    if (head === 'healthcheck') {
      const [, key, ...rest] = parts;
      if (rest.length || !(healthcheckKeys as readonly string[]).includes(key!)) unknown(key!, healthcheckKeys);
      else applyHealthcheckKey((short.healthcheck ??= {}), key!, value, label, fail);
      continue;
    }
    if (head === 'http' || head === 'tcp') {
      const [, kind, name, key, ...rest] = parts;
      if (kind !== 'routers' || !name || !key || rest.length) {
        fail(label, `expected ${prefix}${head}.routers.NAME.KEY${kind && kind !== 'routers' ? ` ("${kind}"${didYouMean(kind, ['routers'])})` : ''}`);
        continue;
      }
      if (!namePattern.test(name)) {
        fail(label, `invalid router name "${name}": use letters, digits, ".", "-" and "_"`);
        continue;
      }
      const keys = head === 'http' ? httpRouterKeys : tcpRouterKeys;
      if (!(keys as readonly string[]).includes(key)) {
        unknown(key, keys);
        continue;
      }
      const target = router(name, head, label);
      if (target) applyRouterKey(target, key, value, label, fail);
      continue;
    }
    // services.NAME.KEY or services.NAME.healthcheck.KEY
    const [, name, key, subkey, ...rest] = parts;
    if (!name || !key || rest.length || (key !== 'healthcheck' && subkey !== undefined)) {
      fail(label, `expected ${prefix}services.NAME.KEY`);
      continue;
    }
    if (!namePattern.test(name)) {
      fail(label, `invalid service name "${name}": use letters, digits, ".", "-" and "_"`);
      continue;
    }
    if (!(serviceKeys as readonly string[]).includes(key)) {
      unknown(key, serviceKeys);
      continue;
    }
    if (key === 'healthcheck') {
      if (!subkey || !(healthcheckKeys as readonly string[]).includes(subkey)) {
        unknown(subkey ?? '', healthcheckKeys);
        continue;
      }
      applyHealthcheckKey((service(name).healthcheck ??= {}), subkey, value, label, fail);
      continue;
    }
    applyServiceKey(service(name), key, value, label, fail);
  }

  // The short form: one service named after the container, and a router when a host or path is given.
  const hasShortService = short.port !== undefined || short.scheme !== undefined || short.weight !== undefined || short.network !== undefined || short.healthcheck !== undefined;
  if (hasShortService || shortHosts || shortPath !== undefined || (services.size === 0 && routers.size === 0)) {
    services.set(options.name, { ...short, ...services.get(options.name), name: options.name });
  }
  if (shortHosts || shortPath !== undefined) {
    routers.set(options.name, {
      name: options.name,
      protocol: 'http',
      service: options.name,
      hosts: shortHosts ?? [],
      ...(shortPath !== undefined ? { pathPrefix: shortPath } : {}),
      headers: [],
    });
  }
  // A router without a service uses the container's only service, or the one named after it.
  for (const r of routers.values()) {
    if (r.service) continue;
    r.service = services.size === 1 ? [...services.keys()][0]! : options.name;
    if (!services.has(r.service)) services.set(r.service, { ...short, name: r.service });
  }
  for (const r of routers.values()) if (!services.has(r.service)) services.set(r.service, { ...short, name: r.service });

  for (const svc of services.values()) {
    const check = svc.healthcheck;
    if (check?.intervalMs !== undefined && check.timeoutMs !== undefined && check.timeoutMs >= check.intervalMs) {
      fail(`${prefix}${svc.name === options.name && short.healthcheck ? '' : `services.${svc.name}.`}healthcheck.timeout`, `the timeout (${check.timeoutMs}ms) must be shorter than the interval (${check.intervalMs}ms)`);
    }
  }
  if (errors.length) return { enabled: true, errors };
  return { enabled: true, config: { routers: [...routers.values()], services }, errors };
}

type Fail = (label: string, message: string) => void;

function port(value: string, label: string, fail: Fail): number | undefined {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
    fail(label, `expected a port between 1 and 65535, got "${value}"`);
    return undefined;
  }
  return n;
}

function hosts(value: string, label: string, fail: Fail): string[] | undefined {
  const list = value.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  const bad = list.find((h) => !hostPattern.test(h));
  if (!list.length || bad !== undefined) {
    fail(label, `expected host names separated by commas, such as "a.example.com,*.example.org", got "${bad ?? value}"`);
    return undefined;
  }
  return list;
}

function pathPrefix(value: string, label: string, fail: Fail): string | undefined {
  if (!value.startsWith('/')) {
    fail(label, `a path prefix starts with "/", got "${value}"`);
    return undefined;
  }
  return value;
}

function applyShortRouterKey(key: string, value: string, label: string, fail: Fail, setHosts: (h: string[]) => void, setPath: (p: string) => void): boolean {
  if (key === 'host') {
    const list = hosts(value, label, fail);
    if (list) setHosts(list);
    return true;
  }
  if (key === 'path') {
    const path = pathPrefix(value, label, fail);
    if (path !== undefined) setPath(path);
    return true;
  }
  return false;
}

function applyRouterKey(router: LabelRouter, key: string, value: string, label: string, fail: Fail): void {
  switch (key) {
    case 'host': {
      const list = hosts(value, label, fail);
      if (list) router.hosts = list;
      return;
    }
    case 'path': {
      const path = pathPrefix(value, label, fail);
      if (path !== undefined) router.pathPrefix = path;
      return;
    }
    case 'headers': {
      const pairs: Array<[string, string]> = [];
      for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
        const eq = item.indexOf('=');
        const name = item.slice(0, eq).trim();
        if (eq <= 0 || !tokenPattern.test(name)) {
          fail(label, `expected Name=value pairs separated by commas, such as "X-Env=canary", got "${item}"`);
          return;
        }
        pairs.push([name.toLowerCase(), item.slice(eq + 1).trim()]);
      }
      router.headers = pairs;
      return;
    }
    case 'entrypoint':
      router.entrypoint = value;
      return;
    case 'service':
      if (!namePattern.test(value)) fail(label, `invalid service name "${value}"`);
      else router.service = value;
      return;
    case 'priority': {
      const n = Number(value);
      if (!/^-?\d+$/.test(value) || Math.abs(n) > 1_000_000) fail(label, `expected a whole number, got "${value}"`);
      else router.priority = n;
      return;
    }
  }
}

function applyServiceKey(service: LabelService, key: string, value: string, label: string, fail: Fail): boolean {
  switch (key) {
    case 'port': {
      const n = port(value, label, fail);
      if (n !== undefined) service.port = n;
      return true;
    }
    case 'scheme':
      if (value !== 'http' && value !== 'https') fail(label, `expected http or https, got "${value}"${didYouMean(value, ['http', 'https'])}`);
      else service.scheme = value;
      return true;
    case 'weight': {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n > 10_000) fail(label, `expected a whole number from 0 to 10000, got "${value}"`);
      else service.weight = n;
      return true;
    }
    case 'balancer':
      if (!(balancerKinds as readonly string[]).includes(value)) fail(label, `expected one of ${balancerKinds.join(', ')}, got "${value}"${didYouMean(value, balancerKinds)}`);
      else service.balancer = value as BalancerKind;
      return true;
    case 'network':
      if (!value) fail(label, 'expected a network name');
      else service.network = value;
      return true;
    default:
      return false;
  }
}

function applyHealthcheckKey(check: LabelHealthcheck, key: string, value: string, label: string, fail: Fail): void {
  switch (key) {
    case 'path': {
      const path = pathPrefix(value, label, fail);
      if (path !== undefined) check.path = path;
      return;
    }
    case 'port': {
      const n = port(value, label, fail);
      if (n !== undefined) check.port = n;
      return;
    }
    case 'interval':
    case 'timeout': {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 1) fail(label, `expected a duration like 500ms, 5s or 1m, got "${value}"`);
      else if (key === 'interval') check.intervalMs = ms;
      else check.timeoutMs = ms;
      return;
    }
    case 'rise':
    case 'fall': {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < 1 || n > 100) fail(label, `expected a whole number from 1 to 100, got "${value}"`);
      else check[key] = n;
      return;
    }
  }
}
