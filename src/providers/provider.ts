import type { DynamicConfig } from '../control/snapshot.js';

/** A source of routers and services. Providers only publish; the control loop decides. */
export interface Provider {
  readonly name: string;
  start(publish: (config: DynamicConfig) => void): Promise<void>;
  stop(): Promise<void>;
}
