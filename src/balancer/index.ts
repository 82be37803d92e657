import type { ServiceConfig } from '../config/types.js';
import type { Backend, Balancer } from './backend.js';
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';
import { StickyBalancer } from './sticky.js';

export { Backend, serverKey, type Balancer, type Choice, type PickContext, type ServerKey } from './backend.js';

export function createBalancer(service: Pick<ServiceConfig, 'balancer' | 'hash' | 'sticky'>, backends: readonly Backend[]): Balancer {
  switch (service.balancer) {
    case 'round_robin':
      return new RoundRobinBalancer(backends);
    case 'least_request':
      return new LeastRequestBalancer(backends);
    case 'random':
      return new RandomBalancer(backends);
    case 'hash':
      return new MaglevBalancer(backends, service.hash);
    case 'sticky':
      return new StickyBalancer(backends, service.sticky);
  }
}
