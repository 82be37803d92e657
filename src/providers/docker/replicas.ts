// Containers that define one service name are replicas of one pool. Their service settings merge
// key by key, the newest container's value winning, and a key two containers set differently is
// a conflict to report. The merged settings then go through the schema once more: each
// container's were valid alone, but two can combine badly (one's timeout, another's interval).
import { normaliseService } from '../../config/normalise.js';
import { serviceSchema } from '../../config/schema.js';
import type { Protocol, ServerConfig, ServiceConfig } from '../../config/types.js';
import { formatPath, type Problem } from '../../config/validate.js';
import type { LabelService } from './labels.js';
import { leafPaths, mergeSettings, type SettingsTree } from './settings-tree.js';

interface Pool {
  protocol: Protocol;
  settings: SettingsTree;
  /** Which container set each leaf of `settings`, to name it in a conflict. */
  setBy: Map<string, string>;
  newest: LabelService;
  servers: ServerConfig[];
}

function settingText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export class ReplicaPools {
  private readonly pools = new Map<string, Pool>();
  readonly conflicts: string[] = [];

  /** One container's view of a service; containers must come oldest first. */
  add(container: string, service: LabelService): void {
    const pool = this.pools.get(service.name) ?? { protocol: service.protocol, settings: {}, setBy: new Map(), newest: service, servers: [] };
    mergeSettings(pool.settings, service.settings, (path, kept, taken) => {
      this.conflicts.push(`service ${service.name}: ${path} ${settingText(kept)} (${pool.setBy.get(path)}) and ${settingText(taken)} (${container}) disagree; using ${settingText(taken)} (newest)`);
    });
    for (const path of leafPaths(service.settings)) pool.setBy.set(path, container);
    if (service.protocol === 'tcp') pool.protocol = 'tcp';
    pool.newest = service;
    this.pools.set(service.name, pool);
  }

  protocolOf(service: string): Protocol {
    return this.pools.get(service)?.protocol ?? 'http';
  }

  addServer(service: string, server: ServerConfig): void {
    this.pools.get(service)?.servers.push(server);
  }

  /** The pools' services, with the replicas' settings merged. */
  build(): Map<string, ServiceConfig> {
    const services = new Map<string, ServiceConfig>();
    for (const [name, pool] of this.pools) {
      const problems: Problem[] = [];
      const settings = serviceSchema(pool.settings, [], problems);
      const config = settings && normaliseService(name, pool.protocol, settings, pool.servers, (path, message, _atKey, warning) => problems.push({ path, message, ...(warning ? { warning } : {}) }));
      const errors = problems.filter((p) => !p.warning);
      if (config && errors.length === 0) {
        services.set(name, config);
        continue;
      }
      this.conflicts.push(`service ${name}: the replicas' settings do not combine (${errors.map((p) => `${formatPath(p.path)}: ${p.message}`).join('; ')}); using the newest container's`);
      const own = serviceSchema(pool.newest.settings, [], []);
      services.set(name, own ? normaliseService(name, pool.protocol, own, pool.servers, () => undefined) : { ...pool.newest.config, servers: pool.servers });
    }
    return services;
  }
}
