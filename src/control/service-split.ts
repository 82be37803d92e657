// Weighted and mirroring services: services without servers of their own, which pass each request
// on to other services. Built with the snapshot (the services they name are that snapshot's), so
// that a request only follows references, and a router with a plain service pays nothing.
import { RoundRobinBalancer } from '../balancer/round-robin.js';
import { StickyBalancer } from '../balancer/sticky.js';
import type { Balancer, PickContext } from '../balancer/index.js';
import type { MirroringConfig, ServiceConfig } from '../config/types.js';
import type { ServicePool } from './snapshot.js';

/** A service that a weighted service chooses among, as its balancer sees it: `id` is its name. */
interface WeightedChild {
  readonly id: string;
  readonly weight: number;
  /** Its place in `WeightedSplit.children`. */
  readonly index: number;
}

/** A copy of a request for a mirror, and who asked for it (for the metric and the in-flight bound). */
export interface MirrorCopy {
  /** The mirroring service. */
  readonly from: string;
  readonly mirror: ServicePool;
  readonly config: MirroringConfig;
}

/** Where a request to a weighted or mirroring service goes, and what the way there adds. */
export interface ServiceChoice {
  /** The service with servers that serves the request. */
  service: ServicePool;
  /** Set-Cookie values of the sticky weighted services on the way. */
  cookies: string[] | undefined;
  /** Copies to send, for the mirroring services on the way. */
  mirrors: MirrorCopy[] | undefined;
}

/** One step of a weighted or mirroring service: the next service a request goes to. */
export interface ServiceSplit {
  /** Whether a request that goes this way can reach a usable server. */
  readonly usable: boolean;
  next(context: PickContext, choice: ServiceChoice): ServicePool;
}

/** Follows a weighted or mirroring service down to the service whose servers take the request. */
export function chooseService(service: ServicePool, context: PickContext): ServiceChoice {
  const choice: ServiceChoice = { service, cookies: undefined, mirrors: undefined };
  // Cycles are refused when the snapshot is built (such a service gets no split), so this ends.
  while (choice.service.split) choice.service = choice.service.split.next(context, choice);
  return choice;
}

/** The Set-Cookie values of a response: the weighted services' on the way, then the balancer's own. */
export function withCookies(cookies: readonly string[] | undefined, own: string | undefined): string | readonly string[] | undefined {
  if (!cookies) return own;
  return own ? [...cookies, own] : cookies;
}

/**
 * Whether a request to this service can reach a healthy server. A pool in panic serves from
 * servers that fail their checks: a weighted service prefers its other services then.
 */
export function poolUsable(pool: ServicePool): boolean {
  return pool.split ? pool.split.usable : pool.members.length > 0 && !pool.panic;
}

/**
 * Smooth weighted round-robin among the child services that can serve (those without a healthy
 * server are skipped, as Traefik's health-aware weighted does; when none can, among all of them,
 * so that the chosen one answers with its own 503 or holds the request for its emptyPoolWait).
 */
class WeightedSplit implements ServiceSplit {
  constructor(
    readonly children: readonly ServicePool[],
    readonly balancer: Balancer<WeightedChild>,
    /** The children and weights the balancer chooses among: one with the same key keeps its place. */
    readonly key: string,
    readonly usable: boolean,
  ) {}

  next(context: PickContext, choice: ServiceChoice): ServicePool {
    const child = this.balancer.pick(context)!;
    const cookie = this.balancer.affinityCookie?.(context, child);
    if (cookie) (choice.cookies ??= []).push(cookie);
    return this.children[child.index]!;
  }
}

/** Every request to `main`; to each mirror, a copy of `percent` of them (every n-th, not at random). */
class MirroringSplit implements ServiceSplit {
  private requests = 0;
  private readonly copied: number[];

  constructor(
    private readonly name: string,
    private readonly config: MirroringConfig,
    private readonly main: ServicePool,
    private readonly mirrors: readonly ServicePool[],
  ) {
    this.copied = mirrors.map(() => 0);
  }

  get usable(): boolean {
    return poolUsable(this.main);
  }

  next(_context: PickContext, choice: ServiceChoice): ServicePool {
    this.requests++;
    for (let i = 0; i < this.mirrors.length; i++) {
      if (this.copied[i]! * 100 >= this.requests * this.config.mirrors[i]!.percent) continue;
      this.copied[i]!++;
      (choice.mirrors ??= []).push({ from: this.name, mirror: this.mirrors[i]!, config: this.config });
    }
    return this.main;
  }
}

/** The services a weighted or mirroring service names, in order. */
export function namedServices(config: ServiceConfig): string[] {
  if (config.weighted) return config.weighted.services.map((child) => child.name);
  if (config.mirroring) return [config.mirroring.service, ...config.mirroring.mirrors.map((mirror) => mirror.name)];
  return [];
}

/**
 * The split of a weighted or mirroring service, from the pools of the services it names (already
 * built: the snapshot builds them first). `previous`: the same service's split in the last
 * snapshot, whose round-robin place is kept when its children and weights are the same.
 */
export function buildSplit(config: ServiceConfig, named: readonly ServicePool[], previous: ServiceSplit | undefined): ServiceSplit {
  if (config.mirroring) return new MirroringSplit(config.name, config.mirroring, named[0]!, named.slice(1));
  const weighted = config.weighted!;
  const children = weighted.services.map((child, index) => ({ id: child.name, weight: child.weight, index }));
  const serving = children.filter((child) => poolUsable(named[child.index]!));
  const choices = serving.length > 0 ? serving : children;
  const key = `${JSON.stringify(weighted.sticky ?? null)}|${choices.map((child) => `${child.index}:${child.id}:${child.weight}`).join(',')}`;
  const balancer = previous instanceof WeightedSplit && previous.key === key
    ? previous.balancer
    : weighted.sticky ? new StickyBalancer(choices, weighted.sticky) : new RoundRobinBalancer(choices);
  return new WeightedSplit(named, balancer, key, serving.length > 0);
}
