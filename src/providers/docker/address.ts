// Where lb can reach a container, decided by fixed rules in a fixed order (docs/docker.md), with
// the reason spelled out either way. The rule numbers match the documentation.

export interface ContainerNetwork {
  name: string;
  ip: string;
}

export interface PublishedPort {
  hostIp: string;
  hostPort: number;
}

/** What lb knows of a container, from one inspect. */
export interface ContainerInfo {
  id: string;
  name: string;
  /** Creation time in ms, to decide which replica is newest. */
  created: number;
  labels: Record<string, string>;
  running: boolean;
  paused: boolean;
  /** Docker HEALTHCHECK status; undefined when the container has none. */
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** HostConfig.NetworkMode: `default`, `bridge`, `host`, `none`, `container:<id>` or a network name. */
  networkMode: string;
  networks: ContainerNetwork[];
  /** Exposed TCP ports, ascending. */
  exposedPorts: number[];
  /** Published ports by container port. */
  published: Map<number, PublishedPort[]>;
  composeProject?: string;
  composeService?: string;
  oneOff: boolean;
}

export type AddressChoice =
  | { ok: true; host: string; port: number; network: string; why: string }
  | { ok: false; reason: string };

export interface AddressContext {
  /** Finds another container by ID, ID prefix or name (for `container:<id>` mode). */
  resolve(idOrName: string): ContainerInfo | undefined;
  /** Networks of lb's own container, when lb runs in one. */
  ownNetworks: readonly string[] | undefined;
  preferredNetworks: readonly string[];
  hostAddress: string;
  useBindPort: boolean;
}

/** The port to use: the label, else the only exposed port. Several exposed ports are never guessed. */
export function choosePort(container: ContainerInfo, labelPort: number | undefined, portLabel: string): { port: number } | { reason: string } {
  if (labelPort !== undefined) return { port: labelPort };
  if (container.exposedPorts.length === 1) return { port: container.exposedPorts[0]! };
  if (container.exposedPorts.length === 0) return { reason: `no port: the image exposes none; set ${portLabel}` };
  return { reason: `several exposed ports (${container.exposedPorts.join(', ')}); set ${portLabel} to choose one` };
}

export function chooseAddress(container: ContainerInfo, port: number, labelNetwork: string | undefined, networkLabel: string, context: AddressContext): AddressChoice {
  // Rule 1: another container's network namespace.
  let source = container;
  const seen = new Set<string>([container.id]);
  while (source.networkMode.startsWith('container:')) {
    const target = context.resolve(source.networkMode.slice('container:'.length));
    if (!target) return { ok: false, reason: `network_mode ${source.networkMode}: that container is not known` };
    if (seen.has(target.id)) return { ok: false, reason: `network_mode ${container.networkMode}: containers share namespaces in a cycle` };
    seen.add(target.id);
    source = target;
  }
  const via = source === container ? '' : ` (network of container ${source.name}, shared through network_mode container:)`;

  // Rule 2: the host's network stack.
  if (source.networkMode === 'host') {
    return { ok: true, host: context.hostAddress, port, network: 'host', why: `network_mode host: hostAddress ${context.hostAddress}${via}` };
  }
  // Rule 3: no network at all.
  if (source.networkMode === 'none') return { ok: false, reason: `network_mode none: the container has no network${via}` };

  // Rule 4: its networks, without the swarm ingress network and networks with no address.
  const networks = usableNetworks(source.networks);
  const byName = (name: string) => networks.find((n) => n.name === name) ?? (source.composeProject ? networks.find((n) => n.name === `${source.composeProject}_${name}`) : undefined);
  const on = (network: ContainerNetwork, why: string): AddressChoice => ({ ok: true, host: network.ip, port, network: network.name, why: `${why}${via}` });

  // Rules 5 to 7.
  const rules = { labelNetwork, networkLabel, preferredNetworks: context.preferredNetworks, preferredKey: 'providers.docker.network', ownNetworks: context.ownNetworks };
  const preferred = preferNetwork(networks, byName, rules, 'the container');
  if (preferred) return 'reason' in preferred ? { ok: false, reason: preferred.reason } : on(preferred.network, preferred.why);
  // Rule 8: a published port on the host.
  if (context.useBindPort) {
    const binding = source.published.get(port)?.[0] ?? container.published.get(port)?.[0];
    if (binding) {
      const host = binding.hostIp === '0.0.0.0' || binding.hostIp === '::' || binding.hostIp === '' ? context.hostAddress : binding.hostIp;
      return { ok: true, host, port: binding.hostPort, network: 'published', why: `published port ${port} → ${host}:${binding.hostPort} (useBindPort)` };
    }
  }
  // Rule 9: its only network.
  const only = onlyNetwork(networks, rules);
  if ('reason' in only) return { ok: false, reason: `${only.reason}${networks.length === 0 && context.useBindPort ? ` and no published port ${port}` : ''}` };
  return on(only.network, only.why);
}

export interface NetworkRules {
  labelNetwork: string | undefined;
  /** The label that names a network, as the user writes it (`lb.network`). */
  networkLabel: string;
  preferredNetworks: readonly string[];
  /** The setting that lists preferred networks (`providers.docker.network`). */
  preferredKey: string;
  /** Networks of lb's own container or task, when lb runs in one. */
  ownNetworks: readonly string[] | undefined;
}

/** Rule 4: never the swarm ingress network (its routing mesh is not a server's address), never a network without an address. */
export function usableNetworks<N extends ContainerNetwork>(networks: readonly N[]): N[] {
  return networks.filter((n) => n.name !== 'ingress' && n.ip);
}

/**
 * Rules 5 to 7, for a container or a swarm task alike: the network the labels name (and no other),
 * then the provider's preferred networks in order, then a network lb's own container shares.
 * Undefined when none of them decides.
 */
export function preferNetwork<N extends ContainerNetwork>(networks: readonly N[], byName: (name: string) => N | undefined, rules: NetworkRules, what: string): { network: N; why: string } | { reason: string } | undefined {
  if (rules.labelNetwork !== undefined) {
    const chosen = byName(rules.labelNetwork);
    return chosen ? { network: chosen, why: `${rules.networkLabel}=${rules.labelNetwork}` } : { reason: `${rules.networkLabel}=${rules.labelNetwork}, but ${what} is on networks: ${networks.map((n) => n.name).join(', ') || 'none'}` };
  }
  for (const preferred of rules.preferredNetworks) {
    const chosen = byName(preferred);
    if (chosen) return { network: chosen, why: `${rules.preferredKey} prefers ${preferred}` };
  }
  if (rules.ownNetworks) {
    const shared = networks.filter((n) => rules.ownNetworks!.includes(n.name)).sort((a, b) => a.name.localeCompare(b.name));
    if (shared.length) return { network: shared[0]!, why: shared.length === 1 ? `shares network ${shared[0]!.name} with lb` : `shares networks ${shared.map((n) => n.name).join(', ')} with lb; took the first by name` };
  }
  return undefined;
}

/** Rule 9: the only network; with several, the reason names them and what to set. */
export function onlyNetwork<N extends ContainerNetwork>(networks: readonly N[], rules: NetworkRules): { network: N; why: string } | { reason: string } {
  if (networks.length === 1) return { network: networks[0]!, why: `only network ${networks[0]!.name}` };
  if (networks.length === 0) return { reason: 'no network with an address' };
  return { reason: `on networks ${networks.map((n) => n.name).join(', ')} and none was chosen; set ${rules.networkLabel} (or ${rules.preferredKey})` };
}
