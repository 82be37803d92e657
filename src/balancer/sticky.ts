import type { StickyPolicy } from '../config/types.js';
import type { Backend, Balancer, Choice, PickContext } from './backend.js';
import { usable } from './backend.js';
import { cookieValue } from './cookies.js';
import { hash32 } from './hash32.js';
import { RoundRobinBalancer } from './round-robin.js';

/**
 * Pins a client to a server (or, for a weighted service, a service) with a cookie. The cookie
 * holds a hash of its id (the server's address, the service's name), not the id itself; when the
 * pinned one is gone, the client is re-pinned by round-robin.
 */
export class StickyBalancer<T extends Choice = Backend> implements Balancer<T> {
  readonly backends: readonly T[];
  private readonly policy: StickyPolicy;
  private readonly fallback: RoundRobinBalancer<T>;
  private readonly byToken = new Map<string, T>();
  private readonly tokenOf = new Map<T, string>();

  constructor(backends: readonly T[], policy: StickyPolicy) {
    this.backends = backends;
    this.policy = policy;
    this.fallback = new RoundRobinBalancer<T>(backends);
    for (const backend of backends) {
      const token = hash32(backend.id).toString(16).padStart(8, '0');
      this.byToken.set(token, backend);
      this.tokenOf.set(backend, token);
    }
  }

  pick(context: PickContext, exclude?: T): T | undefined {
    const token = cookieValue(context.headers?.cookie, this.policy.cookie);
    const pinned = token === undefined ? undefined : this.byToken.get(token);
    if (pinned && usable(pinned, exclude)) return pinned;
    return this.fallback.pick(context, exclude);
  }

  affinityCookie(context: PickContext, backend: T): string | undefined {
    const token = this.tokenOf.get(backend)!;
    if (cookieValue(context.headers?.cookie, this.policy.cookie) === token) return undefined;
    return `${this.policy.cookie}=${token}; Path=/; HttpOnly; SameSite=Lax${this.policy.secure ? '; Secure' : ''}`;
  }
}
