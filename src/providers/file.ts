import type { LbConfig } from '../config/types.js';
import type { DynamicConfig } from '../control/snapshot.js';
import type { Provider } from './provider.js';

/** The routers and services written by hand in lb.yaml. */
export class FileProvider implements Provider {
  readonly name = 'file';
  private readonly config: DynamicConfig;

  constructor(config: Pick<LbConfig, 'routers' | 'services'>) {
    this.config = { routers: config.routers, services: config.services };
  }

  async start(publish: (config: DynamicConfig) => void): Promise<void> {
    publish(this.config);
  }

  async stop(): Promise<void> {}
}
