// Routers and services from labelled sources: containers for the Docker provider, swarm services
// for the Swarm provider. Each source's labels are read with the one grammar (labels.ts); what
// differs between providers is only where a source's servers are (`place`).
import type { EntrypointConfig, LabelProviderConfig, MiddlewareConfig, Protocol, RouterConfig, ServerConfig } from '../../config/types.js';
import type { DynamicConfig } from '../../control/snapshot.js';
import type { Logger } from '../../log.js';
import { defaultName, parseLabels, placeRouter, type LabelError, type LabelService } from './labels.js';
import { ReplicaPools } from './replicas.js';

/** Where one server of a source serves, or why it does not (`server` absent). */
export interface ServerPlacement {
  service: string;
  address?: string;
  network?: string;
  why: string;
  /** The swarm task, for the Swarm provider's reports. */
  task?: string;
  node?: string;
  server?: ServerConfig;
}

export interface LabelSource {
  id: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  composeService?: string;
  /** Why the source is left out before its labels are read, when it is (a compose one-off). */
  leftOut?: string;
  /** Problems with labels only this provider reads (`lb.swarm.vip`), reported as label errors. */
  errors?: LabelError[];
  /** Why none of its servers takes traffic now (not running, paused...), when that is so. */
  lifecycle?: string;
  /** The servers this source gives one of its label services. */
  place(service: LabelService, protocol: Protocol): ServerPlacement[];
}

/** What /api/state says about one source: where it serves, or why it does not. */
export interface SourceReport {
  id: string;
  name: string;
  inPool: boolean;
  services: Array<Omit<ServerPlacement, 'server'>>;
  reason?: string;
}

/** A label problem, keyed by the kind of source (`container` or `service`) that has it. */
export type LabelProblem = Record<string, string> & { label: string; message: string };

export interface LabelBuild {
  dynamic: DynamicConfig;
  /** False when the routers and services are those of the last build. */
  changed: boolean;
  reports: SourceReport[];
  labelErrors: LabelProblem[];
  labelWarnings: LabelProblem[];
  conflicts: string[];
}

export class LabelRoutes {
  private readonly reportedOnce = new Set<string>();
  private signature = '';

  constructor(
    private readonly options: LabelProviderConfig,
    private readonly entrypoints: ReadonlyMap<string, EntrypointConfig>,
    private readonly logger: Logger,
    /** `container` or `service`: how reports and log lines name a source. */
    private readonly kind: string,
    private readonly countLabelError: () => void,
  ) {}

  /** Forgets what was reported about sources that are gone, so that churn does not grow it. */
  forget(exists: (id: string) => boolean): void {
    for (const key of this.reportedOnce) {
      const id = key.startsWith('label|') ? key.split('|')[1]! : undefined;
      if (id && !exists(id)) this.reportedOnce.delete(key);
    }
  }

  private reportOnce(key: string, log: () => void): void {
    if (this.reportedOnce.has(key)) return;
    this.reportedOnce.add(key);
    log();
  }

  /** Sources must come oldest first, so that the newest one's service-level settings win. */
  build(sources: readonly LabelSource[]): LabelBuild {
    const { kind } = this;
    const prefix = this.options.labelPrefix;
    const routers = new Map<string, { router: RouterConfig; from: LabelSource; signature: string }>();
    const middlewares = new Map<string, { middleware: MiddlewareConfig; from: LabelSource; signature: string }>();
    const pools = new ReplicaPools();
    const reports: SourceReport[] = [];
    const labelErrors: LabelProblem[] = [];
    const labelWarnings: LabelProblem[] = [];
    const conflicts: string[] = [];

    for (const source of sources) {
      const report: SourceReport = { id: source.id.slice(0, 12), name: source.name, inPool: false, services: [] };
      if (source.leftOut) {
        reports.push({ ...report, reason: source.leftOut });
        continue;
      }
      const name = defaultName(source.name, source.composeService);
      const parsed = parseLabels(source.labels, { prefix, exposedByDefault: this.options.exposedByDefault, name, ...(source.composeService !== undefined ? { composeService: source.composeService } : {}) });
      const errors = [...parsed.errors, ...(parsed.enabled ? (source.errors ?? []) : [])];
      for (const warning of parsed.warnings) {
        labelWarnings.push({ [kind]: source.name, ...warning });
        this.reportOnce(`label|${source.id}|${warning.label}|${warning.message}`, () => this.logger.warn({ [kind]: source.name, label: warning.label }, `label accepted with a warning: ${warning.message}`));
      }
      if (!parsed.enabled && errors.length === 0) continue;
      const placedRouters = (parsed.config?.routers ?? []).map((router) => {
        const placed = placeRouter(router, this.options, this.entrypoints);
        if (placed.error) errors.push(placed.error);
        return placed.config;
      });
      if (errors.length || !parsed.config) {
        for (const error of errors) {
          labelErrors.push({ [kind]: source.name, ...error });
          this.reportOnce(`label|${source.id}|${error.label}|${error.message}`, () => {
            this.countLabelError();
            this.logger.warn({ [kind]: source.name, label: error.label }, `label error, ${kind} left out: ${error.message}`);
          });
        }
        reports.push({ ...report, reason: `label error: ${errors.map((e) => `${e.label}: ${e.message}`).join('; ')}` });
        continue;
      }

      for (const config of placedRouters) {
        const signature = JSON.stringify(config);
        const existing = routers.get(config.name);
        if (existing && existing.signature !== signature) {
          conflicts.push(`router ${config.name}: ${existing.from.name} and ${source.name} disagree; using ${source.name} (newest)`);
        }
        routers.set(config.name, { router: config, from: source, signature });
      }

      for (const middleware of parsed.config.middlewares.values()) {
        const signature = JSON.stringify(middleware, (_key, value: unknown) => (value instanceof Map ? [...value] : value));
        const existing = middlewares.get(middleware.name);
        if (existing && existing.signature !== signature) conflicts.push(`middleware ${middleware.name}: ${existing.from.name} and ${source.name} disagree; using ${source.name} (newest)`);
        middlewares.set(middleware.name, { middleware, from: source, signature });
      }

      for (const service of parsed.config.services.values()) {
        pools.add(source.name, service);
        if (service.config.weighted || service.config.mirroring) {
          report.services.push({ service: service.name, why: 'weighted or mirroring: it has no servers, the services it names do' });
          continue;
        }
        for (const { server, ...placement } of source.place(service, pools.protocolOf(service.name))) {
          report.services.push(placement);
          if (!server) continue;
          pools.addServer(service.name, server);
          report.inPool = true;
        }
      }
      if (!report.inPool) report.reason = source.lifecycle ?? (report.services.map((s) => `${s.service}: ${s.why}`).join('; ') || 'no servers');
      reports.push(report);
    }

    const services = pools.build();
    conflicts.push(...pools.conflicts);
    for (const conflict of conflicts) this.reportOnce(`conflict|${conflict}`, () => this.logger.warn({}, `label conflict: ${conflict}`));
    const dynamic: DynamicConfig = { routers: new Map([...routers].map(([name, { router }]) => [name, router])), services, middlewares: new Map([...middlewares].map(([name, { middleware }]) => [name, middleware])) };
    // Most events (create, connect, a resync) change nothing that routes: publish only changes.
    const signature = JSON.stringify([[...dynamic.routers], [...dynamic.services], [...middlewares].map(([, m]) => m.signature)]);
    const changed = signature !== this.signature;
    this.signature = signature;
    return { dynamic, changed, reports, labelErrors, labelWarnings, conflicts };
  }
}
