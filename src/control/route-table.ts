import type { RouterMatch } from '../config/types.js';

export interface RouteCandidate<T> {
  readonly match: RouterMatch;
  readonly priority?: number;
  readonly value: T;
}

interface Entry<T> {
  pathPrefix: string | undefined;
  headers: ReadonlyArray<readonly [string, string]>;
  value: T;
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * Host/path/header routing for one HTTP entrypoint. Routes are bucketed by host when the table
 * is built, so a lookup costs one map probe per label of the request host, however many routes
 * there are. Within a bucket the order is: explicit priority (higher first), then the more
 * specific route (exact host, then longer wildcard suffix, then longer path prefix, then more
 * header conditions), then the router name for determinism.
 */
export class RouteTable<T> {
  private readonly exact = new Map<string, Entry<T>[]>();
  private readonly wildcard = new Map<string, Entry<T>[]>();
  private readonly anyHost: Entry<T>[];
  readonly size: number;

  constructor(candidates: ReadonlyArray<RouteCandidate<T> & { name: string }>) {
    this.size = candidates.length;
    type Ranked = { entry: Entry<T>; priority: number; hostRank: number; name: string };
    const rank = (c: RouteCandidate<T> & { name: string }, hostRank: number): Ranked => ({
      entry: { pathPrefix: c.match.pathPrefix, headers: c.match.headers, value: c.value },
      priority: c.priority ?? 0,
      hostRank,
      name: c.name,
    });
    const order = (a: Ranked, b: Ranked) =>
      b.priority - a.priority ||
      b.hostRank - a.hostRank ||
      (b.entry.pathPrefix?.length ?? 0) - (a.entry.pathPrefix?.length ?? 0) ||
      b.entry.headers.length - a.entry.headers.length ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

    const exactRoutes = new Map<string, Ranked[]>();
    const wildcardRoutes = new Map<string, Ranked[]>();
    const anyHostRoutes: Ranked[] = [];
    for (const candidate of candidates) {
      if (candidate.match.hosts.length === 0) anyHostRoutes.push(rank(candidate, 0));
      for (const host of candidate.match.hosts) {
        if (host.startsWith('*.')) {
          const suffix = host.slice(2);
          push(wildcardRoutes, suffix, rank(candidate, 1 + suffix.length));
        } else {
          push(exactRoutes, host, rank(candidate, 1_000_000));
        }
      }
    }
    // A wildcard bucket also holds the wildcards of every parent domain, so that one probe
    // at the most specific matching suffix sees all the routes that can match.
    const wildcardsCovering = (name: string): Ranked[] => {
      const found: Ranked[] = [];
      for (let suffix: string | undefined = name; suffix; suffix = parentDomain(suffix)) found.push(...(wildcardRoutes.get(suffix) ?? []));
      return found;
    };
    const bucket = (ranked: Ranked[]) => ranked.sort(order).map((r) => r.entry);
    for (const [host, routes] of exactRoutes) {
      const parent = parentDomain(host);
      this.exact.set(host, bucket([...routes, ...(parent ? wildcardsCovering(parent) : []), ...anyHostRoutes]));
    }
    for (const suffix of wildcardRoutes.keys()) this.wildcard.set(suffix, bucket([...wildcardsCovering(suffix), ...anyHostRoutes]));
    this.anyHost = bucket([...anyHostRoutes]);
  }

  /**
   * `host` must already be lower-case and without port. `headers` may be given as a function, so
   * that they are only made for routes that match on them.
   */
  lookup(host: string, path: string, headers: Headers | (() => Headers)): T | undefined {
    let entries = this.exact.get(host);
    if (!entries && this.wildcard.size > 0) {
      for (let suffix = parentDomain(host); suffix; suffix = parentDomain(suffix)) {
        entries = this.wildcard.get(suffix);
        if (entries) break;
      }
    }
    entries ??= this.anyHost;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.pathPrefix !== undefined && !path.startsWith(entry.pathPrefix)) continue;
      if (entry.headers.length > 0 && !headersMatch(entry.headers, typeof headers === 'function' ? headers() : headers)) continue;
      return entry.value;
    }
    return undefined;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function parentDomain(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot < 0 ? undefined : name.slice(dot + 1);
}

function headersMatch(required: ReadonlyArray<readonly [string, string]>, headers: Headers): boolean {
  for (const [name, value] of required) {
    const actual = headers[name];
    if (Array.isArray(actual) ? !actual.includes(value) : actual !== value) return false;
  }
  return true;
}

/** Lower-cases a Host header and strips its port and any trailing dot. */
export function normaliseHost(header: string | undefined): string {
  if (!header) return '';
  let end = header.length;
  if (header.charCodeAt(0) === 91 /* [ */) {
    end = header.indexOf(']') + 1 || header.length;
  } else {
    const colon = header.lastIndexOf(':');
    if (colon >= 0) end = colon;
  }
  if (header.charCodeAt(end - 1) === 46 /* . */) end--;
  return header.slice(0, end).toLowerCase();
}
