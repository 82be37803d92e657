import { Backend, createBalancer, type Balancer } from '../balancer/index.js';
import { defaultServiceConfig } from '../config/normalise.js';
import { routingProtocol, type EntrypointConfig, type MiddlewareConfig, type RouterConfig, type ServiceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { compileMiddlewares, MiddlewareChain, type CompiledMiddleware } from '../middleware/chain.js';
import { RouteTable } from './route-table.js';
import { buildSplit, namedServices, type ServiceSplit } from './service-split.js';

/** Routers and services as a provider contributes them (lb.yaml, Docker labels). */
export interface DynamicConfig {
  routers: ReadonlyMap<string, RouterConfig>;
  services: ReadonlyMap<string, ServiceConfig>;
  /**
   * By name. What a provider publishes is keyed by the names it defines; what the control loop
   * merges, by `name@provider` (routers' references qualified the same way).
   */
  middlewares?: ReadonlyMap<string, MiddlewareConfig>;
}

export interface ServicePool {
  readonly name: string;
  readonly config: ServiceConfig;
  /** Every configured server. */
  readonly backends: readonly Backend[];
  /** The servers the balancer picks from: the usable ones, or all of them in panic. */
  readonly members: readonly Backend[];
  /** Too few servers are usable, so traffic goes to every server (see panicThreshold). */
  readonly panic: boolean;
  readonly balancer: Balancer;
  /** Weighted and mirroring services (which have no servers): how a request is passed on. */
  readonly split: ServiceSplit | undefined;
}

/**
 * Which servers may take traffic, as the health state in the control loop sees it: `usable` now,
 * or at least `known` (healthy at some point), which panic falls back to.
 */
export type UsableCheck = (service: ServiceConfig, backend: Backend) => { usable: boolean; known: boolean };

export interface HttpRoute {
  readonly router: string;
  readonly entrypoint: string;
  readonly service: ServicePool;
  /** The router's middlewares, compiled; undefined for a router without any. */
  readonly middlewares: MiddlewareChain | undefined;
}

/** A router that names a middleware no provider defines: its requests answer 500. */
export interface MissingMiddleware {
  readonly router: string;
  readonly middleware: string;
}

export interface TcpRoute {
  readonly router: string;
  readonly service: ServicePool;
  /** `tls: terminate`: the entrypoint decrypts, and the service gets plain bytes. */
  readonly terminate: boolean;
}

export interface EntrypointRoutes {
  readonly config: EntrypointConfig;
  /** HTTP entrypoints. */
  readonly routes?: RouteTable<HttpRoute>;
  /** TCP entrypoints: the router without `match` (the fallback), if any. */
  readonly tcp?: TcpRoute;
  /**
   * TCP entrypoints with routers that match `sni`: the routes by the ClientHello's server name,
   * exact names first, then the longest wildcard, then the fallback. Absent: no ClientHello is
   * read, every connection goes to the fallback as it comes.
   */
  readonly sni?: RouteTable<TcpRoute>;
}

/** A router that can never win: `by` has the same entrypoint, match and priority, and wins. */
export interface ShadowedRouter {
  readonly router: string;
  readonly entrypoint: string;
  readonly by: string;
}

/**
 * Everything the data plane needs to route, frozen. A new snapshot replaces the old one as a
 * whole; in-flight work keeps the snapshot it started with.
 */
export interface RoutingSnapshot {
  readonly version: number;
  readonly entrypoints: ReadonlyMap<string, EntrypointRoutes>;
  readonly routers: ReadonlyMap<string, RouterConfig>;
  readonly services: ReadonlyMap<string, ServicePool>;
  /** Routers that no request can reach; reported, never dropped silently. */
  readonly shadowed: readonly ShadowedRouter[];
  /** Every middleware by `name@provider`, compiled, carried into the next snapshot while unchanged. */
  readonly middlewares: ReadonlyMap<string, CompiledMiddleware>;
  readonly missingMiddlewares: readonly MissingMiddleware[];
}

/**
 * Builds a snapshot. Backends that are unchanged from `previous` are carried over as the same
 * objects, so their in-flight counts and keep-alive pools survive.
 */
export function buildSnapshot(
  entrypoints: ReadonlyMap<string, EntrypointConfig>,
  dynamic: DynamicConfig,
  previous: RoutingSnapshot | undefined,
  usable: UsableCheck = () => ({ usable: true, known: true }),
  /** For what middlewares report after load; see MiddlewareFactory. */
  logger?: Logger,
): RoutingSnapshot {
  const services = new Map<string, ServicePool>();
  for (const [name, config] of dynamic.services) {
    if (config.weighted || config.mirroring) continue;
    const old = previous?.services.get(name);
    const backends = config.servers.map((server) => {
      const fresh = new Backend(server);
      return old?.backends.find((b) => b.origin === fresh.origin && b.weight === fresh.weight) ?? fresh;
    });
    const states = backends.map((b) => usable(config, b));
    const healthy = backends.filter((_, i) => states[i]!.usable);
    // Servers that never passed a check are starting, not failing: they count neither towards
    // panic (so a pool warming up is not one) nor, in panic, as members.
    const known = backends.filter((_, i) => states[i]!.known);
    const threshold = config.panicThresholdPercent;
    const panic = threshold > 0 && known.length > 0 && healthy.length * 100 < known.length * threshold;
    const members = panic ? known : healthy;
    const reusable = old && sameBalancing(old.config, config) && sameMembers(old.members, members);
    services.set(name, Object.freeze({ name, config, backends: Object.freeze(backends), members: Object.freeze(members), panic, balancer: reusable ? old.balancer : createBalancer(config, members), split: undefined }));
  }

  addSplits(dynamic.services, services, previous);

  const byEntrypoint = new Map<string, RouterConfig[]>();
  for (const router of dynamic.routers.values()) {
    // A route whose pool is not (or no longer) defined answers 503, not 404.
    if (!services.has(router.service)) services.set(router.service, emptyPool(defaultServiceConfig(router.service, routingProtocol(entrypoints.get(router.entrypoint)?.protocol ?? 'http'))));
    const list = byEntrypoint.get(router.entrypoint) ?? [];
    list.push(router);
    byEntrypoint.set(router.entrypoint, list);
  }

  const middlewares = compileMiddlewares(dynamic.middlewares, previous?.middlewares, logger);
  const missingMiddlewares: MissingMiddleware[] = [];
  const chains = new Map<string, MiddlewareChain>();
  for (const router of dynamic.routers.values()) {
    if (!router.middlewares?.length) continue;
    const missing = router.middlewares.filter((name) => !middlewares.has(name));
    for (const middleware of missing) missingMiddlewares.push({ router: router.name, middleware });
    chains.set(router.name, new MiddlewareChain(router.middlewares, missing.length ? [] : router.middlewares.map((name) => middlewares.get(name)!.middleware), missing));
  }

  const snapshotEntrypoints = new Map<string, EntrypointRoutes>();
  for (const [name, config] of entrypoints) {
    const routers = byEntrypoint.get(name) ?? [];
    if (config.protocol === 'tcp') {
      snapshotEntrypoints.set(name, Object.freeze({ config, ...tcpRoutes(routers, services) }));
    } else {
      const routes = new RouteTable<HttpRoute>(
        routers.flatMap((router) => {
          const service = services.get(router.service);
          return service ? [{ name: router.name, match: router.match, priority: router.priority, value: { router: router.name, entrypoint: name, service, middlewares: chains.get(router.name) } }] : [];
        }),
      );
      snapshotEntrypoints.set(name, Object.freeze({ config, routes }));
    }
  }

  return Object.freeze({
    version: (previous?.version ?? 0) + 1,
    entrypoints: snapshotEntrypoints,
    routers: dynamic.routers,
    services,
    shadowed: reusesRouting(previous, entrypoints, dynamic) ? previous!.shadowed : Object.freeze(shadowedRouters(entrypoints, byEntrypoint)),
    middlewares,
    missingMiddlewares: Object.freeze(missingMiddlewares),
  });
}

function emptyPool(config: ServiceConfig, split?: ServiceSplit): ServicePool {
  // Every pool has the same keys, split too, so that reading a route's pool stays monomorphic.
  return Object.freeze({ name: config.name, config, backends: [], members: [], panic: false, balancer: createBalancer(config, []), split });
}

/**
 * The weighted and mirroring services, each after the services it names (a service that is not
 * defined is an empty pool, which answers 503). One that reaches itself through them gets no split:
 * it answers 503, and the control loop says why.
 */
function addSplits(configs: ReadonlyMap<string, ServiceConfig>, services: Map<string, ServicePool>, previous: RoutingSnapshot | undefined): void {
  const visiting = new Set<string>();
  /** Undefined: `name` is being built, so the service that named it reaches itself. */
  const add = (name: string): ServicePool | undefined => {
    let pool = services.get(name);
    if (pool) return pool;
    const config = configs.get(name);
    if (!config) pool = emptyPool(defaultServiceConfig(name, 'http'));
    else if (visiting.has(name)) return undefined;
    else {
      visiting.add(name);
      const named = namedServices(config).map(add);
      visiting.delete(name);
      pool = emptyPool(config, named.every((p) => p !== undefined) ? buildSplit(config, named as ServicePool[], previous?.services.get(name)?.split) : undefined);
    }
    services.set(name, pool);
    return pool;
  };
  for (const [name, config] of configs) if (config.weighted || config.mirroring) add(name);
}

/** Health changes rebuild the snapshot with the same routers: what follows from them alone stays. */
function reusesRouting(previous: RoutingSnapshot | undefined, entrypoints: ReadonlyMap<string, EntrypointConfig>, dynamic: DynamicConfig): boolean {
  return previous !== undefined && previous.routers === dynamic.routers && [...previous.entrypoints].every(([name, ep]) => entrypoints.get(name) === ep.config) && previous.entrypoints.size === entrypoints.size;
}

const byName = (a: RouterConfig, b: RouterConfig) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * A TCP entrypoint's routes. The server names of `sni` routers go into a route table as hosts
 * (without priorities: a name alone decides), the fallback as its any-host route; among equal
 * matches the first router by name wins, as on HTTP entrypoints.
 */
function tcpRoutes(routers: readonly RouterConfig[], services: ReadonlyMap<string, ServicePool>): Pick<EntrypointRoutes, 'tcp' | 'sni'> {
  const routes = [...routers].sort(byName).flatMap((router) => {
    const service = services.get(router.service);
    return service ? [{ router, route: Object.freeze({ router: router.name, service, terminate: router.tls === 'terminate' }) }] : [];
  });
  const fallback = routes.find(({ router }) => !router.match.sni)?.route;
  const sni = routes.some(({ router }) => router.match.sni)
    ? new RouteTable(routes.map(({ router, route }) => ({ name: router.name, match: { hosts: router.match.sni ?? [], headers: [] }, value: route })))
    : undefined;
  return { ...(fallback ? { tcp: fallback } : {}), ...(sni ? { sni } : {}) };
}

/**
 * Routers that another router always beats: one with the same match and priority, which wins by
 * name order as in the route table. On an HTTP entrypoint the match is the hosts, path prefix and
 * headers, in any order; on a TCP entrypoint, the server names alone (or none: the fallback).
 */
function shadowedRouters(entrypoints: ReadonlyMap<string, EntrypointConfig>, byEntrypoint: ReadonlyMap<string, RouterConfig[]>): ShadowedRouter[] {
  const shadowed: ShadowedRouter[] = [];
  for (const [entrypoint, routers] of byEntrypoint) {
    const tcp = entrypoints.get(entrypoint)?.protocol === 'tcp';
    const winners = new Map<string, RouterConfig>();
    for (const router of [...routers].sort(byName)) {
      const { hosts, pathPrefix, headers, sni } = router.match;
      const key = tcp ? JSON.stringify([...(sni ?? [])].sort()) : JSON.stringify([router.priority ?? 0, [...hosts].sort(), pathPrefix ?? null, headers.map(([n, v]) => `${n}:${v}`).sort()]);
      const winner = winners.get(key);
      if (winner) shadowed.push({ router: router.name, entrypoint, by: winner.name });
      else winners.set(key, router);
    }
  }
  return shadowed;
}

function sameMembers(a: readonly Backend[], b: readonly Backend[]): boolean {
  return a.length === b.length && a.every((backend, i) => backend === b[i]);
}

function sameBalancing(a: ServiceConfig, b: ServiceConfig): boolean {
  return a.balancer === b.balancer && a.hash.on === b.hash.on && a.hash.name === b.hash.name && a.sticky.cookie === b.sticky.cookie && a.sticky.secure === b.sticky.secure;
}
