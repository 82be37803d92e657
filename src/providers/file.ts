import type { LbConfig } from '../config/types.js';
import type { DynamicConfig } from '../control/snapshot.js';
import type { Provider } from './provider.js';

/** The routers, services and middlewares written by hand in lb.yaml. */
export class FileProvider implements Provider {
  readonly name = 'file';
  private config: DynamicConfig;
  private publish: (config: DynamicConfig) => void = () => undefined;

  constructor(config: Pick<LbConfig, 'routers' | 'services' | 'middlewares'>) {
    this.config = { routers: config.routers, services: config.services, middlewares: config.middlewares };
  }

  async start(publish: (config: DynamicConfig) => void): Promise<void> {
    this.publish = publish;
    publish(this.config);
  }

  /** A reloaded lb.yaml: publish its routers and services. */
  update(config: Pick<LbConfig, 'routers' | 'services' | 'middlewares'>): void {
    this.config = { routers: config.routers, services: config.services, middlewares: config.middlewares };
    this.publish(this.config);
  }

  async stop(): Promise<void> {}
}
