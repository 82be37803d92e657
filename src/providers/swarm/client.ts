import type Docker from 'dockerode';
import type { DockerTlsConfig } from '../../config/types.js';
import { SwarmNotManagerError } from '../../errors.js';
import { DockerClient } from '../docker/client.js';

/** A service as GET /services gives it, with what lb reads. */
export interface SwarmService {
  id: string;
  name: string;
  /** Creation time in ms: services that define one lb service merge their settings oldest first. */
  created: number;
  /** The service's own labels (`deploy.labels`), not its containers'. */
  labels: Record<string, string>;
  endpointMode: 'vip' | 'dnsrr';
  /** Virtual IPs by network ID, without the CIDR suffix. */
  virtualIps: Array<{ networkId: string; ip: string }>;
  /** Ports published by the service: the target port inside its tasks. */
  targetPorts: number[];
  /** The stack of `docker stack deploy`, whose networks are named `<stack>_<name>`. */
  stack?: string;
  /** Tasks have a HEALTHCHECK (in the service spec; the image's is not visible to the manager). */
  healthcheck: boolean;
}

/** A task as GET /tasks gives it. */
export interface SwarmTask {
  id: string;
  serviceId: string;
  nodeId: string;
  slot?: number;
  state: string;
  desiredState: string;
  containerId?: string;
  /** Its addresses on each network, by network name, without the CIDR suffix. */
  networks: Array<{ name: string; ip: string }>;
  /** Its TCP ports published in `host` mode on its node: the port inside the task, and the node's port. */
  hostPorts: Array<{ target: number; published: number }>;
}

export interface SwarmNode {
  id: string;
  hostname: string;
  /** `ready`, `down`, `unknown`, `disconnected`. */
  state: string;
  /** `active`, `pause`, `drain`. */
  availability: string;
  /** The address the node advertises to the swarm, where its `host` mode ports are published. */
  address?: string;
}

// The fields lb reads, as the Engine API (1.41) names them; dockerode's own types lack most.
interface RawService {
  ID?: string;
  CreatedAt?: string;
  Spec?: { Name?: string; Labels?: Record<string, string>; EndpointSpec?: { Mode?: string }; TaskTemplate?: { ContainerSpec?: { Healthcheck?: { Test?: string[] } } } };
  Endpoint?: { VirtualIPs?: Array<{ NetworkID?: string; Addr?: string }>; Ports?: Array<{ TargetPort?: number; Protocol?: string }> };
}
interface RawTask {
  ID?: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  DesiredState?: string;
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string }; PortStatus?: { Ports?: Array<{ Protocol?: string; TargetPort?: number; PublishedPort?: number; PublishMode?: string }> } };
  NetworksAttachments?: Array<{ Network?: { Spec?: { Name?: string } }; Addresses?: string[] }>;
}
interface RawNode {
  ID?: string;
  Description?: { Hostname?: string };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Addr?: string };
  Spec?: { Availability?: string };
}

const withoutPrefixLength = (address: string) => address.split('/')[0]!;

/**
 * `Status.Addr`; a manager that listens on all addresses may report 0.0.0.0 there, and then its
 * `ManagerStatus.Addr` (host:2377) says where it is.
 */
function nodeAddress(node: RawNode): string | undefined {
  const own = node.Status?.Addr;
  if (own && own !== '0.0.0.0') return own;
  const manager = node.ManagerStatus?.Addr?.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return manager && manager !== '0.0.0.0' ? manager : undefined;
}

/**
 * The read-only swarm calls: GET /info, /services, /tasks, /nodes and /networks, beside the
 * Docker client's /_ping, /version, /events and /containers/{id}/json. Only managers answer
 * them; a worker answers 503.
 */
export class SwarmClient extends DockerClient {
  protected override readonly neededPaths = '/_ping, /version, /info, /services, /tasks, /nodes, /networks, /events and /containers';

  constructor(endpoint: string | undefined, tls?: DockerTlsConfig) {
    super(endpoint, tls);
  }

  /** Fails with LB_SWARM_NOT_MANAGER unless the engine is an active swarm manager. */
  async requireManager(): Promise<{ nodeId: string; cluster: string }> {
    const info = (await this.call('GET', '/info', () => this.docker.info())) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string; Cluster?: { ID?: string } } };
    const swarm = info.Swarm ?? {};
    if (swarm.LocalNodeState !== 'active') throw new SwarmNotManagerError(this.endpoint, `its engine is not part of a swarm: Swarm.LocalNodeState is ${swarm.LocalNodeState ?? 'missing'}`);
    if (!swarm.ControlAvailable) throw new SwarmNotManagerError(this.endpoint, 'it is a worker node: workers answer 503 to /tasks and /services');
    return { nodeId: swarm.NodeID ?? '', cluster: swarm.Cluster?.ID ?? '' };
  }

  async services(): Promise<SwarmService[]> {
    const list = (await this.call('GET', '/services', () => this.docker.listServices())) as RawService[];
    return list.map((s) => {
      const spec = s.Spec ?? {};
      const endpoint = s.Endpoint;
      const test = spec.TaskTemplate?.ContainerSpec?.Healthcheck?.Test;
      return {
        id: s.ID ?? '',
        name: spec.Name ?? s.ID ?? '',
        created: Date.parse(s.CreatedAt ?? '') || 0,
        labels: spec.Labels ?? {},
        endpointMode: spec.EndpointSpec?.Mode === 'dnsrr' ? 'dnsrr' : 'vip',
        virtualIps: (endpoint?.VirtualIPs ?? []).filter((v) => v.NetworkID && v.Addr).map((v) => ({ networkId: v.NetworkID!, ip: withoutPrefixLength(v.Addr!) })),
        targetPorts: [...new Set((endpoint?.Ports ?? []).filter((p) => (p.Protocol ?? 'tcp') === 'tcp' && p.TargetPort).map((p) => p.TargetPort!))].sort((a, b) => a - b),
        healthcheck: Boolean(test?.length && test[0] !== 'NONE'),
        ...(spec.Labels?.['com.docker.stack.namespace'] ? { stack: spec.Labels['com.docker.stack.namespace'] } : {}),
      };
    });
  }

  async tasks(): Promise<SwarmTask[]> {
    const list = (await this.call('GET', '/tasks', () => this.docker.listTasks())) as RawTask[];
    return list.map((t) => ({
      id: t.ID ?? '',
      serviceId: t.ServiceID ?? '',
      nodeId: t.NodeID ?? '',
      ...(t.Slot !== undefined ? { slot: t.Slot } : {}),
      state: t.Status?.State ?? 'unknown',
      desiredState: t.DesiredState ?? 'unknown',
      ...(t.Status?.ContainerStatus?.ContainerID ? { containerId: t.Status.ContainerStatus.ContainerID } : {}),
      networks: (t.NetworksAttachments ?? []).flatMap((a) => (a.Network?.Spec?.Name && a.Addresses?.[0] ? [{ name: a.Network.Spec.Name, ip: withoutPrefixLength(a.Addresses[0]) }] : [])),
      hostPorts: (t.Status?.PortStatus?.Ports ?? []).flatMap((p) => (p.PublishMode === 'host' && (p.Protocol ?? 'tcp') === 'tcp' && p.TargetPort && p.PublishedPort ? [{ target: p.TargetPort, published: p.PublishedPort }] : [])),
    }));
  }

  async nodes(): Promise<SwarmNode[]> {
    const list = (await this.call('GET', '/nodes', () => this.docker.listNodes())) as RawNode[];
    return list.map((n) => {
      const address = nodeAddress(n);
      return { id: n.ID ?? '', hostname: n.Description?.Hostname ?? n.ID ?? '', state: n.Status?.State ?? 'unknown', availability: n.Spec?.Availability ?? 'active', ...(address ? { address } : {}) };
    });
  }

  /** Network names by ID: service VIPs name only the network's ID. */
  async networkNames(): Promise<Map<string, string>> {
    const list = await this.call('GET', '/networks', () => this.docker.listNetworks());
    return new Map(list.map((n) => [n.Id, n.Name]));
  }

  /** Service and node events (managers only), and container events of the manager's own node. */
  async swarmEvents(since: number, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    const filters = JSON.stringify({ type: ['service', 'node', 'container'] });
    return this.call('GET', '/events', () => this.docker.getEvents({ since, filters, abortSignal: signal } as Docker.GetEventsOptions));
  }
}
