// A real multi-node Docker Swarm on this machine: three dockerd, each in a network namespace of
// its own (its own data-root, exec-root, pidfile, socket, cgroup parent and /etc/docker), joined
// into one swarm with an attachable overlay. The main dockerd is never touched and never joins a
// swarm. The namespaces share a bridge that lives in a fourth namespace (a bridge in the host
// namespace would be blocked by the main dockerd's FORWARD DROP through br_netfilter); the host
// reaches the nodes through a veth at <net>.1. Everything is removed at the end, even on failure,
// and what a killed run left behind is removed by the next one.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/config/load.js';
import { startBalancer } from '../../src/lb.js';
import { createLogger } from '../../src/log.js';
import { lbYaml } from './config.js';
import { eventually } from './wait.js';

const exec = promisify(execFile);
const runRoot = '/run/lb-swarm';
const libRoot = '/var/lib/lb-swarm';
export const swarmImage = 'lb-test/base:1';
/** This checkout, mounted into lb's containers. */
export const repoRoot = new URL('../../', import.meta.url).pathname;
const repo = repoRoot;
const fixtures = new URL('../fixtures/', import.meta.url).pathname;

/** Bind mounts that make the empty image run the host's node on the test fixtures. */
export const fixtureMounts = ['/usr', '/lib', '/lib64'].flatMap((dir) => ['--mount', `type=bind,src=${dir},dst=${dir},ro`]).concat(['--mount', `type=bind,src=${fixtures},dst=/app,ro`]);

/**
 * A swarm for the cases of one test, torn down when it ends. Where it cannot run the test is
 * skipped with the reason, and in CI (CI=true) it fails instead.
 */
export async function swarmFor(t: TestContext, options: SwarmOptions = {}): Promise<Swarm | undefined> {
  const unavailable = swarmUnavailable();
  if (unavailable) {
    if (process.env.CI === 'true') throw new Error(unavailable);
    t.skip(unavailable);
    return undefined;
  }
  const swarm = await startSwarm(3, options);
  t.after(() => swarm.teardown());
  return swarm;
}

/** Why the swarm cannot run here, or undefined when it can. */
function swarmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the swarm tests need root (network namespaces, dockerd)';
  for (const tool of ['dockerd', 'docker', 'ip', 'unshare', 'mountpoint']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `the swarm tests need ${tool} (apt-get install docker.io iproute2 util-linux)`;
  }
  return undefined;
}

export interface Swarm {
  readonly id: string;
  /** A folder of this swarm's own, removed by `teardown`. */
  readonly dir: string;
  /** Node n's address as the host reaches it (1-based). */
  address(node: number): string;
  /** Node n's engine socket. */
  socket(node: number): string;
  /** `docker` against node n (default: the manager, node 1). */
  docker(args: string[], node?: number): Promise<string>;
  /** The overlay every test service can join. */
  readonly overlay: string;
  /** Stops node n's engine (SIGTERM: its containers stop too), as a machine that goes down would. */
  stopEngine(node: number): Promise<void>;
  /** Starts node n's engine again; it rejoins the swarm by itself. */
  startEngine(node: number): Promise<void>;
  teardown(): Promise<void>;
}

export interface SwarmOptions {
  /** More dockerd flags for node n, whose address is given (a TCP listener with TLS on the manager). */
  daemonArgs?: (node: number, address: string) => string[];
}

interface Layout {
  id: string;
  run: string;
  lib: string;
  hub: string;
  hostIf: string;
  net: string;
  nodes: number;
}

function layoutOf(id: string, nodes: number): Layout {
  // The /24 of the node bridge comes from the id: two runs at once pick different ones.
  return { id, run: join(runRoot, id), lib: join(libRoot, id), hub: `lbsw${id}hub`, hostIf: `lbsw${id}h`, net: `10.234.${parseInt(id.slice(0, 2), 16)}`, nodes };
}

const namespace = (layout: Layout, n: number) => `lbsw${layout.id}n${n}`;

function sh(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr.trim()}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Our dockerd for node n, and not a process that reused its pid. */
function ourDaemon(layout: Layout, n: number): number | undefined {
  const pid = Number(readFileSync(join(layout.run, `n${n}.pid`), 'utf8').trim() || 'NaN');
  if (!Number.isInteger(pid)) return undefined;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  return cmdline.includes(`dockerd -H unix://${layout.run}/n${n}.sock `) ? pid : undefined;
}

async function killAll(pids: number[], waitMs: number): Promise<void> {
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  while (pids.some(alive) && Date.now() < deadline) await delay(100);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

/** Removes everything of one swarm: it leaves the swarm, its daemons stop, and its namespaces, links, cgroups and folders go. */
async function teardown(layout: Layout): Promise<void> {
  const dk = (n: number, args: string[]) => exec('docker', ['-H', `unix://${layout.run}/n${n}.sock`, ...args], { timeout: 20_000 }).catch(() => undefined);
  // Every node at once: removing hundreds of containers (the scale bench) takes a while on each.
  await Promise.all(Array.from({ length: layout.nodes }, async (_, i) => {
    const n = i + 1;
    if (!existsSync(join(layout.run, `n${n}.sock`))) return;
    await dk(n, ['swarm', 'leave', '--force']);
    const ids = (await dk(n, ['ps', '-aq']))?.stdout.trim().split('\n').filter(Boolean) ?? [];
    if (ids.length) await dk(n, ['rm', '-f', ...ids]);
  }));
  const daemons: number[] = [];
  for (let n = 1; n <= layout.nodes; n++) {
    try {
      const pid = ourDaemon(layout, n);
      if (pid) daemons.push(pid);
    } catch {
      // No pidfile, or the process is gone.
    }
  }
  await killAll(daemons, 30_000);
  // containerd, shims and docker-proxy left in the namespaces.
  for (let n = 1; n <= layout.nodes; n++) {
    const left = spawnSync('ip', ['netns', 'pids', namespace(layout, n)], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean).map(Number) ?? [];
    await killAll(left.filter(alive), 5_000);
  }
  for (let n = 1; n <= layout.nodes; n++) {
    for (const hierarchy of readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join('/sys/fs/cgroup', d.name)).concat('/sys/fs/cgroup')) {
      const dir = join(hierarchy, `lbsw${layout.id}-n${n}`);
      if (existsSync(dir)) spawnSync('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    }
    spawnSync('ip', ['netns', 'del', namespace(layout, n)]);
    rmSync(`/etc/netns/${namespace(layout, n)}`, { recursive: true, force: true });
  }
  spawnSync('ip', ['link', 'del', layout.hostIf]);
  spawnSync('ip', ['netns', 'del', layout.hub]);
  rmSync(layout.lib, { recursive: true, force: true });
  rmSync(layout.run, { recursive: true, force: true });
}

/** Swarms of test runs that were killed before they could clean up: their owner process is gone. */
async function sweepStale(): Promise<void> {
  if (!existsSync(runRoot)) return;
  const read = (id: string, file: string) => Number(readFileSync(join(runRoot, id, file), { encoding: 'utf8', flag: 'a+' }).trim() || 'NaN');
  for (const id of readdirSync(runRoot)) {
    const owner = read(id, 'owner');
    if (Number.isInteger(owner) && alive(owner)) continue;
    await teardown(layoutOf(id, read(id, 'nodes') || 3));
  }
}

// Run inside the node's namespace: `ip netns exec` gives a fresh /sys without the host's cgroup
// mounts (dockerd needs them), so they are mounted again before dockerd starts.
const launcher = `#!/bin/sh
set -e
N=$1 RUN=$2 LIB=$3 ID=$4
shift 4
hostname "node$N"
while read -r src dst fstype opts _; do
  mkdir -p "$dst"
  mountpoint -q "$dst" || mount -t "$fstype" -o "$opts" "$src" "$dst"
done < "$RUN/host-cgroup-mounts"
exec dockerd -H "unix://$RUN/n$N.sock" --data-root "$LIB/n$N" --exec-root "$RUN/n$N-exec" \\
  --pidfile "$RUN/n$N.pid" --config-file "$RUN/daemon.json" --cgroup-parent "/lbsw$ID-n$N" "$@"
`;

/** Starts node n's dockerd in its namespace, in the background; its output goes to n<N>.log. */
function launch(layout: Layout, n: number, daemonArgs: readonly string[]): void {
  const log = openSync(join(layout.run, `n${n}.log`), 'a');
  const child = spawn('ip', ['netns', 'exec', namespace(layout, n), 'unshare', '--uts', join(layout.run, 'launch.sh'), String(n), layout.run, layout.lib, layout.id, ...daemonArgs], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  closeSync(log);
}

/**
 * Brings up a swarm of `nodes` engines (node 1 the manager, the others workers) with the
 * attachable overlay `ov` (10.241.1.0/24), and the empty test image on every node. Call
 * `teardown` at the end (it is safe to call twice).
 */
export async function startSwarm(nodes = 3, options: SwarmOptions = {}): Promise<Swarm> {
  await sweepStale();
  const layout = layoutOf(randomBytes(2).toString('hex'), nodes);
  mkdirSync(layout.run, { recursive: true });
  writeFileSync(join(layout.run, 'owner'), String(process.pid));
  writeFileSync(join(layout.run, 'nodes'), String(nodes));
  const socket = (n: number) => join(layout.run, `n${n}.sock`);
  const dk = async (args: string[], n = 1) => (await exec('docker', ['-H', `unix://${socket(n)}`, ...args], { timeout: 120_000 })).stdout.trim();
  let tornDown: Promise<void> | undefined;
  const extraArgs = new Map<number, string[]>();
  const daemonArgs = (n: number) => extraArgs.get(n) ?? extraArgs.set(n, options.daemonArgs?.(n, swarm.address(n)) ?? []).get(n)!;
  const swarm: Swarm = {
    id: layout.id,
    dir: layout.run,
    address: (n) => `${layout.net}.1${n}`,
    socket,
    docker: dk,
    overlay: 'ov',
    stopEngine: async (n) => {
      const pid = ourDaemon(layout, n);
      if (pid) await killAll([pid], 30_000);
    },
    startEngine: async (n) => {
      launch(layout, n, daemonArgs(n));
      await eventually(() => dk(['version', '--format', '{{.Server.Version}}'], n).catch(() => undefined), `dockerd of node ${n} to start again`, 60_000);
    },
    teardown: () => (tornDown ??= teardown(layout)),
  };
  try {
    sh('ip', ['netns', 'add', layout.hub]);
    sh('ip', ['-n', layout.hub, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', layout.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', layout.hub, 'link', 'set', 'br0', 'up']);
    sh('ip', ['link', 'add', layout.hostIf, 'type', 'veth', 'peer', 'name', 'host', 'netns', layout.hub]);
    sh('ip', ['-n', layout.hub, 'link', 'set', 'host', 'master', 'br0', 'up']);
    sh('ip', ['addr', 'add', `${layout.net}.1/24`, 'dev', layout.hostIf]);
    sh('ip', ['link', 'set', layout.hostIf, 'up']);
    for (let n = 1; n <= nodes; n++) {
      const ns = namespace(layout, n);
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', layout.hub, 'link', 'add', `n${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', layout.hub, 'link', 'set', `n${n}`, 'master', 'br0', 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${swarm.address(n)}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      // No default route on purpose: an image pull fails at once, and the local image is used.
      // `ip netns exec` mounts /etc/netns/<ns>/* over /etc: each node gets its own /etc/docker.
      mkdirSync(`/etc/netns/${ns}/docker`, { recursive: true });
    }
    writeFileSync(join(layout.run, 'daemon.json'), '{}');
    writeFileSync(join(layout.run, 'host-cgroup-mounts'), readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => /^\S+ \/sys\/fs\/cgroup[ /]/.test(l)).join('\n') + '\n');
    writeFileSync(join(layout.run, 'launch.sh'), launcher, { mode: 0o755 });
    for (let n = 1; n <= nodes; n++) {
      mkdirSync(join(layout.lib, `n${n}`), { recursive: true });
      mkdirSync(join(layout.run, `n${n}-exec`), { recursive: true });
      launch(layout, n, daemonArgs(n));
    }
    for (let n = 1; n <= nodes; n++) {
      await eventually(() => dk(['version', '--format', '{{.Server.Version}}'], n).catch(() => undefined), `dockerd of node ${n} (${layout.run}/n${n}.log)`, 60_000);
    }
    const dir = mkdtempSync(join(tmpdir(), 'lb-swarm-image-'));
    try {
      await exec('tar', ['-C', dir, '-cf', `${dir}.tar`, '.']);
      await Promise.all(Array.from({ length: nodes }, (_, i) => dk(['import', `${dir}.tar`, swarmImage], i + 1)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${dir}.tar`, { force: true });
    }
    await dk(['swarm', 'init', '--advertise-addr', swarm.address(1), '--listen-addr', `${swarm.address(1)}:2377`, '--default-addr-pool', '10.241.0.0/16']);
    const token = await dk(['swarm', 'join-token', '-q', 'worker']);
    for (let n = 2; n <= nodes; n++) {
      await dk(['swarm', 'join', '--advertise-addr', swarm.address(n), '--listen-addr', `${swarm.address(n)}:2377`, '--token', token, `${swarm.address(1)}:2377`], n);
    }
    await eventually(async () => (await dk(['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length === nodes, `${nodes} nodes Ready`, 60_000);
    await dk(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.241.1.0/24', swarm.overlay]);
    return swarm;
  } catch (err) {
    await swarm.teardown();
    throw err;
  }
}

export interface SwarmLb {
  container: string;
  /** lb's web entrypoint, as the host reaches it (a published port of node 1). */
  url: string;
  adminUrl: string;
  logs(): Promise<string>;
}

/**
 * lb from this checkout's sources (tsx), in a plain container on `node` (default 1, the manager)
 * attached to `networks`, with the web entrypoint on :80 and the admin API on :9090, both
 * published. `socketDir`, when given, holds the Docker API socket lb uses, `docker.sock` (a relay
 * in front of the manager): it is mounted as a folder, so that a relay that goes away and comes
 * back is seen again. `files` (name → content) are written beside lb.yaml, in /cfg.
 */
export async function startSwarmLb(swarm: Swarm, options: { yaml: string; socketDir?: string; networks: string[]; name?: string; node?: number; files?: Record<string, string> }): Promise<SwarmLb> {
  const name = `${options.name ?? 'lb'}-${randomBytes(3).toString('hex')}`;
  const node = options.node ?? 1;
  const configDir = join(swarm.dir, name);
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'lb.yaml'), options.yaml);
  for (const [file, content] of Object.entries(options.files ?? {})) writeFileSync(join(configDir, file), content);
  const docker = (args: string[]) => swarm.docker(args, node);
  const container = await docker([
    'run', '-d', '--name', name, '--hostname', name, '--network', options.networks[0]!, '--tmpfs', '/tmp', '-w', '/lb', '-e', 'HOME=/tmp',
    ...['/usr', '/lib', '/lib64'].flatMap((dir) => ['-v', `${dir}:${dir}:ro`]),
    '-v', `${repo}:/lb:ro`, '-v', `${configDir}:/cfg:ro`, ...(options.socketDir ? ['-v', `${options.socketDir}:/var/run/lb-docker`] : []),
    '-p', '80', '-p', '9090', swarmImage,
    '/usr/bin/node', '--import', 'tsx', 'src/cli.ts', 'run', '--config', '/cfg/lb.yaml',
  ]);
  for (const network of options.networks.slice(1)) await docker(['network', 'connect', network, container]);
  const port = async (inside: number) => (await docker(['port', container, `${inside}/tcp`])).split('\n')[0]!.split(':').pop()!;
  const lb: SwarmLb = {
    container,
    url: `http://${swarm.address(node)}:${await port(80)}`,
    adminUrl: `http://${swarm.address(node)}:${await port(9090)}`,
    logs: async () => {
      const { stdout, stderr } = await exec('docker', ['-H', `unix://${swarm.socket(node)}`, 'logs', container], { maxBuffer: 64 * 1024 * 1024 });
      return stdout + stderr;
    },
  };
  await eventually(async () => (await fetch(`${lb.adminUrl}/healthz`).catch(() => undefined))?.ok, `lb in container ${name} to answer /healthz`, 60_000).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await lb.logs()}`);
  });
  return lb;
}

/** The lb.yaml of an lb in a container: listening on all its addresses, the swarm provider on the relay (or `endpoint`). */
export function swarmLbYaml(swarmSettings: string, extra = '', endpoint = 'unix:///var/run/lb-docker/docker.sock'): string {
  return `entrypoints: { web: { address: "0.0.0.0:80" } }
admin: { address: "0.0.0.0:9090", insecure: true }
providers: { swarm: { enabled: true, endpoint: "${endpoint}", ${swarmSettings} } }
${extra}`;
}

/** A service of the test server on the overlay(s), `replicas` tasks named <node>-<task ID>. */
export async function createService(swarm: Swarm, name: string, options: { labels?: Record<string, string>; replicas?: number; args?: string[]; networks?: string[] } = {}): Promise<string> {
  const args = ['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--replicas', String(options.replicas ?? 3), '--hostname', '{{.Node.Hostname}}-{{.Task.ID}}'];
  for (const network of options.networks ?? [swarm.overlay]) args.push('--network', network);
  for (const [key, value] of Object.entries(options.labels ?? {})) args.push('--label', `${key}=${value}`);
  args.push(...fixtureMounts, ...(options.args ?? []), swarmImage, '/usr/bin/node', '/app/swarm-backend.cjs');
  return swarm.docker(args);
}

export interface SwarmState {
  connected: boolean;
  services: Array<{ id: string; name: string; inPool: boolean; reason?: string; services: Array<{ service: string; task?: string; node?: string; address?: string; network?: string; why: string }> }>;
  labelErrors: Array<{ service: string; label: string; message: string }>;
}

/** The Swarm provider's part of /api/state, from an lb in a container or in this process. */
export async function swarmState(lb: Pick<SwarmLb, 'adminUrl'>): Promise<SwarmState> {
  const res = await fetch(`${lb.adminUrl}/api/state`);
  return ((await res.json()) as { providers: { swarm: SwarmState } }).providers.swarm;
}

/** lb in this process with `providers.swarm: { enabled: true, <settings> }` (an endpoint among them), its log lines collected. */
export async function inProcessSwarmLb(t: { after(fn: () => unknown): void }, settings: string): Promise<string[]> {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString()); done(); } });
  const balancer = await startBalancer(parseConfig(lbYaml(`providers: { swarm: { enabled: true, ${settings} } }\n`), 'test.yaml'), createLogger('info', sink));
  t.after(() => balancer.stop(100));
  return lines;
}
