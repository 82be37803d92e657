import type { DynamicConfig } from '../../control/snapshot.js';
import type { Provider } from '../provider.js';
import type { LabelBuild } from './label-routes.js';

/**
 * What the Docker and Swarm providers share around their engine session: starting it (lb starts
 * after the first sync, or after the first failure, without those pools), stopping it, publishing
 * only builds that changed routing, and what /api/state says about them.
 */
export abstract class LabelProvider implements Provider {
  abstract readonly name: string;
  protected readonly abort = new AbortController();
  protected connected = false;
  protected lastSync: number | undefined;
  private publish: (config: DynamicConfig) => void = () => undefined;
  private running: Promise<void> | undefined;
  private built: LabelBuild | undefined;

  /** `sources`: what /api/state calls the list of reports (`containers`, `services`). */
  constructor(private readonly sources: string) {}

  /** The engine endpoint, as /api/state and the log name it. */
  protected abstract get endpoint(): string;

  /** Follows the engine until `abort` fires; calls `firstAttempt` once the first connect succeeded or failed. */
  protected abstract run(firstAttempt: () => void): Promise<void>;

  async start(publish: (config: DynamicConfig) => void): Promise<void> {
    this.publish = publish;
    let firstAttempt: () => void = () => undefined;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.running = this.run(firstAttempt);
    await attempted;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  /** Keeps a build's reports, and publishes its routers and services when they changed. */
  protected adopt(built: LabelBuild): void {
    this.built = built;
    if (built.changed) this.publish(built.dynamic);
  }

  describe() {
    return {
      endpoint: this.endpoint,
      connected: this.connected,
      lastSync: this.lastSync ? new Date(this.lastSync).toISOString() : null,
      [this.sources]: this.built?.reports ?? [],
      labelErrors: this.built?.labelErrors ?? [],
      labelWarnings: this.built?.labelWarnings ?? [],
      conflicts: this.built?.conflicts ?? [],
    };
  }
}
