import { hostname } from 'node:os';
import { swarmLabelSchema } from '../../config/schema.js';
import type { Output, Problem } from '../../config/validate.js';
import type { EntrypointConfig, Protocol, ServerConfig, SwarmProviderConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import { onlyNetwork, preferNetwork, usableNetworks, type NetworkRules } from '../docker/address.js';
import type { DockerEvent } from '../docker/client.js';
import { keepConnected, readEvents } from '../docker/follow.js';
import { LabelProvider } from '../docker/label-provider.js';
import { LabelRoutes, type LabelSource, type ServerPlacement } from '../docker/label-routes.js';
import type { LabelError, LabelService } from '../docker/labels.js';
import { SwarmClient, type SwarmNode, type SwarmService, type SwarmTask } from './client.js';

/** What the manager said at the last refresh. */
interface SwarmView {
  services: SwarmService[];
  tasks: Map<string, SwarmTask[]>;
  nodes: Map<string, SwarmNode>;
  networkNames: Map<string, string>;
}

/** Container events of the manager's own node that can end a task sooner than the manager says so. */
const containerActions = new Set(['kill', 'die', 'stop', 'health_status']);

/**
 * Turns labelled swarm services into routers and services, their servers the tasks' addresses on
 * an overlay network (or the service's VIP with `<prefix>.swarm.vip=true`). It reads services,
 * tasks and nodes from a manager every `refreshInterval`, and at once on a service or node event,
 * so that a task leaves its pool as soon as the orchestrator sets its desired state to shutdown:
 * before its container gets SIGTERM. When the manager goes away the last pools keep serving while
 * it reconnects.
 */
export class SwarmProvider extends LabelProvider {
  readonly name = 'swarm';
  private readonly client: SwarmClient;
  private readonly routes: LabelRoutes;
  private view: SwarmView = { services: [], tasks: new Map(), nodes: new Map(), networkNames: new Map() };
  private ownNetworks: string[] | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private viewSignature = '';

  constructor(
    private readonly options: SwarmProviderConfig,
    entrypoints: ReadonlyMap<string, EntrypointConfig>,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    super('services');
    this.client = new SwarmClient(options.endpoint, options.tls);
    this.routes = new LabelRoutes(options, entrypoints, logger, 'service', () => metrics.swarm.labelErrors.inc());
  }

  protected get endpoint(): string {
    return this.client.endpoint;
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.refreshing;
  }

  protected run(firstAttempt: () => void): Promise<void> {
    const signal = this.abort.signal;
    return keepConnected({
      what: 'the swarm manager',
      endpoint: this.client.endpoint,
      logger: this.logger,
      signal,
      setConnected: (connected) => {
        this.connected = connected;
        this.metrics.swarm.connected.set(connected ? 1 : 0);
      },
      firstAttempt,
      connect: async () => {
        await this.client.ping();
        const version = await this.client.version();
        const manager = await this.client.requireManager();
        // Events from just before the first read are replayed: nothing between the two is missed.
        const since = Math.floor(Date.now() / 1000) - 1;
        await this.refreshNow();
        if (this.ownNetworks === undefined) await this.findOwnNetworks();
        this.rebuild();
        return { fields: { version, node: manager.nodeId, services: this.view.services.length }, follow: () => this.follow(since, signal) };
      },
    });
  }

  /** Rule 7 of the network choice: lb's own container on the manager's node, else lb's own task. */
  private async findOwnNetworks(): Promise<void> {
    const self = hostname();
    const container = await this.client.inspect(self).catch(() => undefined);
    const task = [...this.view.tasks.values()].flat().find((t) => t.containerId?.startsWith(self) && t.desiredState === 'running');
    this.ownNetworks = container ? container.networks.map((n) => n.name) : task ? task.networks.map((n) => n.name) : [];
    if (this.ownNetworks.length) this.logger.info({ networks: this.ownNetworks }, 'lb runs in a container; preferring the networks it shares');
  }

  private async follow(since: number, signal: AbortSignal): Promise<void> {
    const timer = setInterval(() => this.refresh(), this.options.refreshIntervalMs);
    try {
      const events = await this.client.swarmEvents(since, signal);
      await readEvents(events, signal, (event) => this.onEvent(event));
    } finally {
      clearInterval(timer);
    }
  }

  private onEvent(event: DockerEvent): void {
    const action = event.Action.split(':')[0]!.trim();
    if (event.Type === 'container' && !containerActions.has(action)) return;
    this.metrics.swarmEvents.labels(event.Type, action).inc();
    this.refresh();
  }

  /** A refresh soon: at once when none runs, else once more right after the running one. */
  private refresh(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          // Most refreshes find what the last one found: then there is nothing to rebuild.
          if (await this.refreshNow()) this.rebuild();
        } catch (err) {
          if (!this.abort.signal.aborted) this.logger.warn({ err: (err as Error).message }, 'swarm refresh failed; keeping the last known pools');
        }
      } while (this.refreshAgain && !this.abort.signal.aborted);
      this.refreshing = undefined;
    })();
  }

  /** Reads the manager's view; false when it is what the last read found. */
  private async refreshNow(): Promise<boolean> {
    const [services, tasks, nodes, networkNames] = await Promise.all([this.client.services(), this.client.tasks(), this.client.nodes(), this.client.networkNames()]);
    this.lastSync = Date.now();
    this.metrics.swarm.lastSync.set(this.lastSync / 1000);
    const signature = JSON.stringify([services, tasks, nodes, [...networkNames]]);
    if (signature === this.viewSignature) return false;
    this.viewSignature = signature;
    const byService = new Map<string, SwarmTask[]>();
    for (const task of tasks) {
      const list = byService.get(task.serviceId);
      if (list) list.push(task);
      else byService.set(task.serviceId, [task]);
    }
    this.view = { services, tasks: byService, nodes: new Map(nodes.map((n) => [n.id, n])), networkNames };
    const known = new Set(services.map((s) => s.id));
    this.routes.forget((id) => known.has(id));
    return true;
  }

  private rebuild(): void {
    const prefix = this.options.labelPrefix;
    const swarmPrefix = `${prefix}.swarm.`;
    const ordered = [...this.view.services].sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
    const sources: LabelSource[] = ordered.map((service) => {
      // `<prefix>.swarm.*` is the Swarm provider's own; the rest is the shared grammar.
      const labels = Object.fromEntries(Object.entries(service.labels).filter(([key]) => !key.toLowerCase().startsWith(swarmPrefix)));
      const reach = readSwarmLabels(Object.entries(service.labels).filter(([key]) => key.toLowerCase().startsWith(swarmPrefix)), swarmPrefix);
      return {
        id: service.id,
        name: service.name,
        // Its tasks are one pool under the service's name, as a compose service's containers are.
        composeService: service.name,
        labels,
        ...('errors' in reach ? { errors: reach.errors } : {}),
        place: (labelService, protocol) => this.place(service, 'errors' in reach ? { via: 'tasks', label: '' } : reach, labelService, protocol),
      };
    });
    this.adopt(this.routes.build(sources));
  }

  private place(service: SwarmService, reach: Reach, labelService: LabelService, protocol: Protocol): ServerPlacement[] {
    const prefix = this.options.labelPrefix;
    const name = labelService.name;
    const port = labelService.server.port ?? (service.targetPorts.length === 1 ? service.targetPorts[0] : undefined);
    if (port === undefined) {
      const why = service.targetPorts.length ? `several published target ports (${service.targetPorts.join(', ')}); set ${labelService.portLabel} to choose one` : `no port: set ${labelService.portLabel}`;
      return [{ service: name, why }];
    }
    const rules: NetworkRules = {
      labelNetwork: labelService.server.network,
      networkLabel: `${prefix}.network`,
      preferredNetworks: this.options.networks,
      preferredKey: 'providers.swarm.network',
      ownNetworks: this.ownNetworks?.length ? this.ownNetworks : undefined,
    };
    const server = (ip: string, at = port): ServerConfig => ({ scheme: protocol === 'tcp' ? 'tcp' : labelService.server.scheme, host: ip, port: at, weight: labelService.server.weight });

    if (reach.via === 'vip') {
      if (service.endpointMode === 'dnsrr') return [{ service: name, why: `${reach.label}=true, but the service has --endpoint-mode dnsrr and so no virtual IP` }];
      // The manager's allocator fills Endpoint.VirtualIPs a moment after the service is created.
      if (service.virtualIps.length === 0) return [{ service: name, why: `${reach.label}=true, but the swarm has not yet given the service a virtual IP` }];
      const networks = service.virtualIps.map((v) => ({ name: this.view.networkNames.get(v.networkId) ?? v.networkId, ip: v.ip }));
      const chosen = chooseNetwork(networks, rules, 'the service', service.stack);
      if ('reason' in chosen) return [{ service: name, why: chosen.reason }];
      const address = `${chosen.network.ip}:${port}`;
      return [{ service: name, address, network: chosen.network.name, why: `${reach.label}=true: the service's virtual IP, ${chosen.why}`, server: server(chosen.network.ip) }];
    }

    return (this.view.tasks.get(service.id) ?? []).filter((task) => task.desiredState === 'running' || task.state === 'running' || task.state === 'starting').map((task) => {
      const taskName = `${service.name}.${task.slot ?? task.nodeId}.${task.id.slice(0, 12)}`;
      const node = this.view.nodes.get(task.nodeId);
      const at = { service: name, task: taskName, ...(node ? { node: node.hostname } : {}) };
      if (reach.via === 'hostPort') {
        // The node's port, so lb need not share an overlay with the task (the routing mesh is not used).
        const published = task.hostPorts.find((p) => p.target === port);
        if (!published) {
          const others = task.hostPorts.length ? ` (it publishes ${task.hostPorts.map((p) => `${p.published}->${p.target}`).join(', ')})` : '';
          return { ...at, why: `${reach.label}=true, but the task publishes no port in host mode for target port ${port}${others}: publish it with mode=host` };
        }
        if (!node?.address) return { ...at, why: `${reach.label}=true, but node ${node?.hostname ?? task.nodeId} has no address in /nodes (Status.Addr)` };
        const address = `${node.address}:${published.published}`;
        const lifecycle = this.lifecycleReason(task, service, node);
        if (lifecycle) return { ...at, address, why: lifecycle };
        return { ...at, address, why: `${reach.label}=true: port ${published.published} of node ${node.hostname}, published in host mode`, server: server(node.address, published.published) };
      }
      const chosen = chooseNetwork(task.networks, rules, 'the task', service.stack);
      if ('reason' in chosen) return { ...at, why: chosen.reason };
      const address = `${chosen.network.ip}:${port}`;
      const lifecycle = this.lifecycleReason(task, service, node);
      if (lifecycle) return { ...at, address, why: lifecycle };
      return { ...at, address, network: chosen.network.name, why: chosen.why, server: server(chosen.network.ip) };
    });
  }

  private lifecycleReason(task: SwarmTask, service: SwarmService, node: SwarmNode | undefined): string | undefined {
    // Set by the orchestrator before the container is stopped: the moment to drain.
    if (task.desiredState === 'shutdown' || task.desiredState === 'remove') return `desired state ${task.desiredState}: draining`;
    // A stop-first update's new task waits in `ready` until the old one has stopped.
    if (task.desiredState !== 'running') return `desired state ${task.desiredState}`;
    if (node && node.state !== 'ready') return `node ${node.hostname} is ${node.state}`;
    if (task.state === 'starting' && service.healthcheck && this.options.serveStarting) return undefined;
    if (task.state === 'starting') return 'health: starting';
    if (task.state !== 'running') return `state ${task.state}`;
    return undefined;
  }
}

/**
 * Rules 4 to 7 and 9 of the network choice, on a task's (or a VIP's) overlay networks. A stack's
 * networks are also found by the name its file gives them (`front` for `<stack>_front`).
 */
function chooseNetwork(all: ReadonlyArray<{ name: string; ip: string }>, rules: NetworkRules, what: string, stack: string | undefined): { network: { name: string; ip: string }; why: string } | { reason: string } {
  const networks = usableNetworks(all);
  const byName = (name: string) => networks.find((n) => n.name === name) ?? (stack ? networks.find((n) => n.name === `${stack}_${name}`) : undefined);
  return preferNetwork(networks, byName, rules, what) ?? onlyNetwork(networks, rules);
}

/** How a service's servers are reached: its tasks' overlay addresses, its VIP, or its tasks' host-mode ports. */
interface Reach {
  via: 'tasks' | 'vip' | 'hostPort';
  /** The label that chose it, as the service spells it. */
  label: string;
}

/**
 * The `<prefix>.swarm.*` labels, checked by `swarmLabelSchema` (keys in any case, as the shared
 * grammar reads them). Any problem is a label error on that service.
 */
function readSwarmLabels(labels: Array<[string, string]>, swarmPrefix: string): Reach | { errors: LabelError[] } {
  const known = Object.keys(swarmLabelSchema.fields!);
  const written = new Map<string, string>();
  const record: Record<string, unknown> = {};
  for (const [label, raw] of labels) {
    const rest = label.slice(swarmPrefix.length);
    const key = known.find((k) => k.toLowerCase() === rest.toLowerCase()) ?? rest;
    written.set(key, label);
    record[key] = swarmLabelSchema.fields![key]?.fromText(raw.trim()) ?? raw;
  }
  const problems: Problem[] = [];
  const checked: Output<typeof swarmLabelSchema> | undefined = swarmLabelSchema(record, [], problems);
  if (!checked) return { errors: problems.map((p) => ({ label: written.get(String(p.path[0])) ?? `${swarmPrefix}${String(p.path[0])}`, message: p.message })) };
  if (checked.vip && checked.hostPort) return { errors: [{ label: written.get('hostPort')!, message: `${written.get('vip')}=true and ${written.get('hostPort')}=true cannot be combined: choose the service's VIP or its tasks' host-mode ports` }] };
  if (checked.vip) return { via: 'vip', label: written.get('vip')! };
  if (checked.hostPort) return { via: 'hostPort', label: written.get('hostPort')! };
  return { via: 'tasks', label: '' };
}
