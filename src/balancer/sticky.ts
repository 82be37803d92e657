import type { StickyPolicy } from '../config/types.js';
import type { Backend, Balancer, PickContext } from './backend.js';
import { usable } from './backend.js';
import { cookieValue } from './cookies.js';
import { hash32 } from './hash32.js';
import { RoundRobinBalancer } from './round-robin.js';

/**
 * Pins a client to a server with a cookie. The cookie holds a hash of the server's address, not
 * the address itself; when the pinned server is gone, the client is re-pinned by round-robin.
 */
export class StickyBalancer implements Balancer {
  readonly backends: readonly Backend[];
  private readonly policy: StickyPolicy;
  private readonly fallback: RoundRobinBalancer;
  private readonly byToken = new Map<string, Backend>();
  private readonly tokenOf = new Map<Backend, string>();

  constructor(backends: readonly Backend[], policy: StickyPolicy) {
    this.backends = backends;
    this.policy = policy;
    this.fallback = new RoundRobinBalancer(backends);
    for (const backend of backends) {
      const token = hash32(backend.id).toString(16).padStart(8, '0');
      this.byToken.set(token, backend);
      this.tokenOf.set(backend, token);
    }
  }

  pick(context: PickContext, exclude?: Backend): Backend | undefined {
    const token = cookieValue(context.headers?.cookie, this.policy.cookie);
    const pinned = token === undefined ? undefined : this.byToken.get(token);
    if (pinned && usable(pinned, exclude)) return pinned;
    return this.fallback.pick(context, exclude);
  }

  affinityCookie(context: PickContext, backend: Backend): string | undefined {
    const token = this.tokenOf.get(backend)!;
    if (cookieValue(context.headers?.cookie, this.policy.cookie) === token) return undefined;
    return `${this.policy.cookie}=${token}; Path=/; HttpOnly; SameSite=Lax${this.policy.secure ? '; Secure' : ''}`;
  }
}
