// What the benchmarks share: processes that are always stopped (optionally pinned to cores), bounded
// load runs with wrk or autocannon, the CPU time a process tree uses during one, medians over
// alternating rounds, markdown tables, the machine's description and the report section in
// docs/benchmarks.md.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem, type as osType } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const lbCli = join(repoRoot, 'dist', 'cli.js');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Options shared by bench/run.ts and bench/scale.ts (node:util parseArgs descriptors).

export const commonOptions = {
  duration: { type: 'string', default: '3' },
  rounds: { type: 'string', default: '3' },
  pin: { type: 'boolean', default: false },
  backend: { type: 'string', default: 'auto' },
  load: { type: 'string', default: 'auto' },
} as const;

export function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a whole number ≥ 1, not "${text}"`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Tools.

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** One line naming the tool's version, or undefined when the tool is missing. */
export function toolVersion(name: 'haproxy' | 'nginx' | 'wrk' | 'caddy'): string | undefined {
  if (!hasTool(name)) return undefined;
  const out = spawnSync(name, [name === 'caddy' ? 'version' : '-v'], { encoding: 'utf8', timeout: 5000 });
  const text = `${out.stdout ?? ''}\n${out.stderr ?? ''}`;
  const match =
    name === 'haproxy' ? /HAProxy version (\S+)/.exec(text)
    : name === 'nginx' ? /nginx version: nginx\/(\S+)/.exec(text)
    : name === 'caddy' ? /^v?(\d\S*)/m.exec(text)
    : /^wrk (\S+)/m.exec(text);
  return match ? match[1] : 'unknown version';
}

export function autocannonVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(require.resolve('autocannon/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export function hasHttpProxy(): boolean {
  try {
    require.resolve('http-proxy');
    return true;
  } catch {
    return false;
  }
}

/** The arguments that run a TypeScript file of bench/ with node and tsx. */
export function nodeScript(file: string, args: string[]): [string, string[]] {
  return [process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL(file, import.meta.url)), ...args]];
}

// ---------------------------------------------------------------------------------------------
// Pinning: with --pin and at least 4 cores, the backend runs on core 0, the proxy under test on
// core 1, the load generator on core 2 and this script on core 3, so that none of them steals the
// others' time.

export type Role = 'backend' | 'proxy' | 'load';
export type Pinning = Partial<Record<Role, string>>;

export function pinPlan(wanted: boolean): { pinning: Pinning; note: string } {
  if (!wanted) return { pinning: {}, note: 'off (processes share all cores)' };
  const count = cpus().length;
  if (count < 4) return { pinning: {}, note: `off: --pin needs 4 cores, this machine has ${count}` };
  if (!hasTool('taskset')) return { pinning: {}, note: 'off: --pin needs taskset (util-linux)' };
  spawnSync('taskset', ['-pc', '3', String(process.pid)], { stdio: 'ignore' });
  return { pinning: { backend: '0', proxy: '1', load: '2' }, note: 'backend on core 0, proxies on core 1, load generator on core 2, bench script on core 3' };
}

// ---------------------------------------------------------------------------------------------
// Processes.

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Workspace {
  /** A scratch folder, readable by nginx's unprivileged workers, removed on exit. */
  work: string;
  /** Starts a long-lived process (stdout ignored, stderr shown), stopped when this process exits. */
  start(command: string, args: string[], role?: Role): ChildProcess;
  /** Starts a process and waits until it listens on port; fails early if it exits first. */
  startListening(command: string, args: string[], port: number, role?: Role, timeoutMs?: number): Promise<ChildProcess>;
  /** Runs a bounded command to its end, killed after timeoutMs. */
  run(command: string, args: string[], options: { timeoutMs: number; role?: Role; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** Cores per role for the processes started from now on. */
  setPinning(pinning: Pinning): void;
}

/** A scratch folder and the processes started in it, all stopped on exit, even on error. */
export function benchWorkspace(prefix: string): Workspace {
  const work = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(work, 0o755);
  const children: ChildProcess[] = [];
  let pinning: Pinning = {};
  process.on('exit', () => {
    // SIGTERM first: an nginx or HAProxy master killed outright leaves its workers behind.
    let alive = false;
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        alive = true;
      }
    }
    if (alive) spawnSync('sleep', ['0.5']);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  process.on('SIGHUP', () => process.exit(129));

  const pinned = (command: string, args: string[], role?: Role): [string, string[]] => {
    const cores = role ? pinning[role] : undefined;
    // taskset execs the command, so the child's pid is the command's own.
    return cores ? ['taskset', ['-c', cores, command, ...args]] : [command, args];
  };

  const start = (command: string, args: string[], role?: Role): ChildProcess => {
    const [cmd, argv] = pinned(command, args, role);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', () => {}); // reported by startListening or by the port never opening
    children.push(child);
    return child;
  };

  return {
    work,
    start,
    async startListening(command, args, port, role, timeoutMs = 15_000) {
      const child = start(command, args, role);
      const exited = new Promise<never>((_, reject) => {
        child.once('exit', (code, signal) => reject(new Error(`${command} exited (${signal ?? `code ${code}`}) before listening on ${port}`)));
        child.once('error', (err) => reject(new Error(`${command}: ${err.message}`)));
      });
      exited.catch(() => {});
      await Promise.race([waitForPort(port, timeoutMs), exited]);
      return child;
    },
    run(command, args, { timeoutMs, role, env }) {
      const [cmd, argv] = pinned(command, args, role);
      return new Promise((resolve, reject) => {
        const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
        children.push(child);
        let stdout = '';
        let stderr = '';
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`${command}: ${err.message}`));
        });
        child.on('close', (status, signal) => {
          clearTimeout(timer);
          children.splice(children.indexOf(child), 1);
          if (signal === 'SIGKILL') reject(new Error(`${command} ran past ${timeoutMs / 1000}s and was killed`));
          else resolve({ status, stdout, stderr });
        });
      });
    },
    setPinning(next) {
      pinning = next;
    },
  };
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs / 1000}s`);
    await delay(50);
  }
}

// ---------------------------------------------------------------------------------------------
// The backend: nginx when installed (or --backend nginx), else bench/backend.ts on Node. Both
// answer "hello world\n" on every path, 1 MiB on /1m, 100 KiB of JSON on /json, and take POST bodies.

/** 100 KiB of JSON as an API sends it (records with ids, names, tags and prices): what compress is measured on. */
export function apiJson(): Buffer {
  const records = Array.from({ length: 1600 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b', String(i % 7)], price: (i * 37) % 1000, active: i % 3 === 0 }));
  return Buffer.from(JSON.stringify(records).slice(0, 100 * 1024 - 1) + ']');
}

export type BackendKind = 'nginx' | 'node';

export function chooseBackend(wanted: string): BackendKind {
  if (wanted === 'nginx' || wanted === 'node') {
    if (wanted === 'nginx' && !hasTool('nginx')) throw new Error('--backend nginx: nginx is not installed (apt-get install -y nginx-light)');
    return wanted;
  }
  if (wanted !== 'auto') throw new Error(`--backend wants auto, nginx or node, not "${wanted}"`);
  return hasTool('nginx') ? 'nginx' : 'node';
}

/** A certificate and key (PEM files) for a backend that serves TLS. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** A self-signed ECDSA P-256 certificate for `name` (and 127.0.0.1), made with openssl in the workspace. */
export function makeCertificate(ws: Workspace, name: string): TlsFiles {
  const certFile = join(ws.work, `${name}.pem`);
  const keyFile = join(ws.work, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`], { stdio: 'ignore' });
  return { certFile, keyFile };
}

/** The backend on `port`: plain HTTP, or HTTPS with `tls` (terminated by the backend itself). */
export async function startBackend(ws: Workspace, kind: BackendKind, port: number, tls?: TlsFiles): Promise<ChildProcess> {
  if (kind === 'node') {
    const [cmd, args] = nodeScript('./backend.ts', ['--port', String(port), ...(tls ? ['--cert', tls.certFile, '--key', tls.keyFile] : [])]);
    return ws.startListening(cmd, args, port, 'backend');
  }
  const dir = join(ws.work, `backend-${port}`);
  writeFileSync(join(ws.work, '1m.bin'), Buffer.alloc(1024 * 1024, 97));
  writeFileSync(join(ws.work, '100k.json'), apiJson());
  const conf = join(ws.work, `backend-${port}.conf`);
  writeFileSync(conf, `
worker_processes 1; daemon off; pid ${dir}.pid; error_log /dev/null;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''} backlog=4096;
${tls ? `    ssl_certificate ${tls.certFile}; ssl_certificate_key ${tls.keyFile};\n` : ''}    location / { return 200 "hello world\\n"; }
    location = /1m { default_type application/octet-stream; alias ${ws.work}/1m.bin; }
    location = /json { default_type application/json; alias ${ws.work}/100k.json; }
  }
}`);
  return ws.startListening('nginx', ['-c', conf, '-p', ws.work], port, 'backend');
}

// ---------------------------------------------------------------------------------------------
// Load generators: wrk (default, when installed) or autocannon (a devDependency), one thread, for a
// bounded time.

export type LoadTool = 'wrk' | 'autocannon';

export function chooseLoadTool(wanted: string): LoadTool {
  if (wanted === 'wrk' || wanted === 'autocannon') {
    if (wanted === 'wrk' && !hasTool('wrk')) throw new Error('--load wrk: wrk is not installed (apt-get install -y wrk)');
    if (wanted === 'autocannon' && !autocannonVersion()) throw new Error('--load autocannon: autocannon is not installed (npm install)');
    return wanted;
  }
  if (wanted !== 'auto') throw new Error(`--load wants auto, wrk or autocannon, not "${wanted}"`);
  if (hasTool('wrk')) return 'wrk';
  if (autocannonVersion()) return 'autocannon';
  throw new Error('bench needs wrk (apt-get install -y wrk) or autocannon (npm install)');
}

export interface LoadSpec {
  url: string;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /** POST this many bytes of body on every request. */
  postBytes?: number;
}

/** One measurement of one target. Latencies in milliseconds, throughput of response bytes. */
export interface Sample {
  rps: number;
  p50ms: number;
  p99ms: number;
  bytesPerSec: number;
  /** Requests (or round trips) completed, as the load tool counts them. */
  requests: number;
  /** CPU time the target's processes used during the measurement, per request, and their names (see withCpu). */
  cpu?: { usPerRequest: number; processes: string[] };
  errors: string[];
}

function toMs(text: string): number {
  const match = /([\d.]+)(us|ms|s|m)\b/.exec(text);
  if (!match) return NaN;
  const n = Number(match[1]);
  return { us: n / 1000, ms: n, s: n * 1000, m: n * 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
}

function toBytes(text: string): number {
  const match = /([\d.]+)([KMGT]?B)/.exec(text);
  if (!match) return NaN;
  return Number(match[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[match[2] as 'B' | 'KB' | 'MB' | 'GB' | 'TB'];
}

/**
 * h2load (nghttp2-client): HTTP/2 over TLS (an https:// URL) or h2c with prior knowledge, `streams`
 * at once on each of `connections`, for `seconds`; `args`: more of its options (a body, headers).
 * It gives no latency percentiles: p50 and p99 are NaN.
 */
export async function runH2load(ws: Workspace, spec: { url: string; connections: number; streams: number; seconds: number; args?: readonly string[] }): Promise<Sample> {
  const args = ['-t1', `-c${spec.connections}`, `-m${spec.streams}`, `-D${spec.seconds}`, ...(spec.args ?? []), spec.url];
  const out = await ws.run('h2load', args, { timeoutMs: (spec.seconds + 30) * 1000, role: 'load' });
  const text = out.stdout;
  const finished = /finished in [\d.]+s, ([\d.]+) req\/s, (\S+)\/s/.exec(text);
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(text);
  if (out.status !== 0 || !finished || !done) throw new Error(`h2load failed on ${spec.url}: ${out.stderr.trim() || text.trim()}`);
  const errors: string[] = [];
  if (Number(done[3]) > 0) errors.push(`${done[3]} failed requests`);
  if (Number(done[4]) > 0) errors.push(`${done[4]} errored requests`);
  const non2xx = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (non2xx && Number(non2xx[2]) + Number(non2xx[3]) > 0) errors.push(`${Number(non2xx[2]) + Number(non2xx[3])} non-2xx responses`);
  return { rps: Number(finished[1]), p50ms: NaN, p99ms: NaN, bytesPerSec: toBytes(finished[2]!), requests: Number(done[1]), errors };
}

export async function runLoad(ws: Workspace, tool: LoadTool, spec: LoadSpec): Promise<Sample> {
  const timeoutMs = (spec.seconds + 30) * 1000;
  const headers = Object.entries(spec.headers ?? {});
  if (tool === 'wrk') {
    const args = ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--latency'];
    for (const [key, value] of headers) args.push('-H', `${key}: ${value}`);
    if (spec.postBytes !== undefined) args.push('-s', fileURLToPath(new URL('./post.lua', import.meta.url)));
    args.push(spec.url);
    const out = await ws.run('wrk', args, { timeoutMs, role: 'load', env: { BENCH_POST_BYTES: String(spec.postBytes ?? 0) } });
    const text = out.stdout;
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
    if (out.status !== 0 || !rps) throw new Error(`wrk failed on ${spec.url}: ${out.stderr.trim() || text.trim()}`);
    const requests = /(\d+) requests in /.exec(text);
    const errors: string[] = [];
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
    if (non2xx) errors.push(`${non2xx[1]} non-2xx responses`);
    const socket = /Socket errors: (.*)/.exec(text);
    if (socket) errors.push(`socket errors: ${socket[1]}`);
    return {
      rps: Number(rps[1]),
      p50ms: toMs(/^\s*50(?:\.0+)?%\s+(\S+)/m.exec(text)?.[1] ?? ''),
      p99ms: toMs(/^\s*99(?:\.0+)?%\s+(\S+)/m.exec(text)?.[1] ?? ''),
      bytesPerSec: toBytes(/Transfer\/sec:\s+(\S+)/.exec(text)?.[1] ?? ''),
      requests: requests ? Number(requests[1]) : Number(rps[1]) * spec.seconds,
      errors,
    };
  }
  const bin = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const args = [bin, '--json', '--no-progress', '-c', String(spec.connections), '-d', String(spec.seconds)];
  for (const [key, value] of headers) args.push('-H', `${key}=${value}`);
  if (spec.postBytes !== undefined) {
    const body = join(ws.work, `post-${spec.postBytes}.bin`);
    writeFileSync(body, Buffer.alloc(spec.postBytes, 97));
    args.push('-m', 'POST', '-i', body, '-H', 'content-type=application/octet-stream');
  }
  args.push(spec.url);
  // The https targets serve a certificate made for the run, which nothing trusts.
  const out = await ws.run(process.execPath, args, { timeoutMs, role: 'load', ...(spec.url.startsWith('https:') ? { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } } : {}) });
  let json: {
    duration: number;
    requests: { total: number };
    throughput: { total: number };
    latency: { p50: number; p99: number };
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  try {
    json = JSON.parse(out.stdout) as typeof json;
  } catch {
    throw new Error(`autocannon failed on ${spec.url}: ${out.stderr.trim() || out.stdout.trim()}`);
  }
  const errors: string[] = [];
  if (json.non2xx) errors.push(`${json.non2xx} non-2xx responses`);
  if (json.errors) errors.push(`${json.errors} errors`);
  if (json.timeouts) errors.push(`${json.timeouts} timeouts`);
  return {
    rps: json.requests.total / json.duration,
    p50ms: json.latency.p50,
    p99ms: json.latency.p99,
    bytesPerSec: json.throughput.total / json.duration,
    requests: json.requests.total,
    errors,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU time: utime + stime of a process and its descendants (an nginx master and its worker, lb's
// primary and its cluster workers), from /proc/<pid>/stat, in clock ticks (getconf CLK_TCK, 100 on
// Linux: 10 ms). Descendants are found by the ppid field of every /proc/*/stat, since
// /proc/<pid>/task/*/children needs a kernel built with CONFIG_PROC_CHILDREN.

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat's times: getconf CLK_TCK, or 100. */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/**
 * Name (comm), ppid and CPU ticks of one process: utime + stime (fields 14, 15) plus cutime +
 * cstime (16, 17), the times of its children already reaped, so that a worker that exits between
 * two readings keeps its time in its parent's. Fields are counted after the last ')', since the
 * command name (field 2) may hold spaces and parentheses.
 */
function procStat(pid: number): { comm: string; ppid: number; ticks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  const end = text.lastIndexOf(')');
  const f = text.slice(end + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  return { comm: text.slice(text.indexOf('(') + 1, end), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
}

/** pid and all its descendants (pid first), each with its name and CPU ticks. */
function processTree(pid: number): Array<{ pid: number; comm: string; ticks: number }> {
  const stats = new Map<number, { comm: string; ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat) stats.set(Number(name), stat);
  }
  const tree: Array<{ pid: number; comm: string; ticks: number }> = [];
  const queue = stats.has(pid) ? [pid] : [];
  for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
    tree.push({ pid: p, ...stats.get(p)! });
    for (const [child, stat] of stats) if (stat.ppid === p) queue.push(child);
  }
  return tree;
}

/** CPU ticks used so far by pid and all its descendants, and their names (pid's first). */
export function treeTicks(pid: number): { ticks: number; processes: string[] } {
  const tree = processTree(pid);
  return { ticks: tree.reduce((sum, p) => sum + p.ticks, 0), processes: tree.map((p) => p.comm) };
}

/** The resident memory (VmRSS) of pid and all its descendants, in bytes, and how many processes that is. */
export function treeRss(pid: number): { bytes: number; processes: number } {
  let bytes = 0;
  const tree = processTree(pid);
  for (const { pid: p } of tree) {
    try {
      bytes += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return { bytes, processes: tree.length };
}

/**
 * Runs measure and adds to its sample the CPU time that pid's process tree used meanwhile, per
 * request the load tool counted. Without a pid (the backend reached directly: no proxy) the sample
 * is returned as it is. The resolution is one clock tick per measurement (see cpuResolutionUs).
 */
export async function withCpu(pid: number | undefined, measure: () => Promise<Sample>): Promise<Sample> {
  if (pid === undefined || process.platform !== 'linux') return measure();
  const before = treeTicks(pid);
  const sample = await measure();
  const after = treeTicks(pid);
  if (after.processes.length === 0 || !(sample.requests > 0)) return sample;
  const usPerRequest = ((after.ticks - before.ticks) * 1e6) / clockTicks() / sample.requests;
  return { ...sample, cpu: { usPerRequest, processes: after.processes } };
}

/** The coarsest resolution of the CPU figures of these results: one clock tick ÷ the fewest requests of a round. */
export function cpuResolutionUs(results: Summary[]): number {
  const counts = results.flatMap((r) => r.samples.filter((s) => s.cpu).map((s) => s.requests));
  return counts.length ? 1e6 / clockTicks() / Math.min(...counts) : NaN;
}

// ---------------------------------------------------------------------------------------------
// Rounds: every target once per round, in the same order, for several rounds; the median of each
// figure per target, so that a machine getting busier or quieter during the run moves all targets
// alike.

export interface Summary {
  name: string;
  samples: Sample[];
  rps: number;
  p50ms: number;
  p99ms: number;
  bytesPerSec: number;
  /** (max − min) / median of req/s over the rounds. */
  spread: number;
  /** Median CPU µs per request of the target's processes (NaN without them), and their names at the last round. */
  cpuUsPerRequest: number;
  processes: string[];
  errors: string[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(name: string, samples: Sample[]): Summary {
  const rps = samples.map((s) => s.rps);
  const mid = median(rps);
  return {
    name,
    samples,
    rps: mid,
    p50ms: median(samples.map((s) => s.p50ms)),
    p99ms: median(samples.map((s) => s.p99ms)),
    bytesPerSec: median(samples.map((s) => s.bytesPerSec)),
    spread: (Math.max(...rps) - Math.min(...rps)) / mid,
    cpuUsPerRequest: median(samples.flatMap((s) => (s.cpu ? [s.cpu.usPerRequest] : []))),
    processes: samples.at(-1)?.cpu?.processes ?? [],
    errors: samples.flatMap((s, i) => s.errors.map((e) => `round ${i + 1}: ${e}`)),
  };
}

/** Runs measure(target) for every target, round after round (A B C A B C ...), and summarizes. */
export async function alternate<T extends { name: string }>(targets: T[], rounds: number, measure: (target: T) => Promise<Sample>): Promise<Summary[]> {
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) samples.get(target.name)!.push(await measure(target));
  }
  return targets.map((t) => summarize(t.name, samples.get(t.name)!));
}

/**
 * Runs measure(target) for every target at the same time, round after round, and summarizes.
 * For targets compared with each other by CPU per request (lb with a setting against lb
 * without): a shared machine's steal and frequency, which drift between alternating rounds,
 * are the same for all of them in a round, and each round pairs their figures.
 */
export async function together<T extends { name: string }>(targets: T[], rounds: number, measure: (target: T) => Promise<Sample>): Promise<Summary[]> {
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    const measured = await Promise.all(targets.map(measure));
    targets.forEach((target, i) => samples.get(target.name)!.push(measured[i]!));
  }
  return targets.map((t) => summarize(t.name, samples.get(t.name)!));
}

/** The median over rounds of `r`'s CPU per request ÷ `base`'s in the same round. */
export function pairedCpuRatio(r: Summary, base: Summary): number {
  const ratios: number[] = [];
  r.samples.forEach((sample, i) => {
    const other = base.samples[i]?.cpu;
    if (sample.cpu && other) ratios.push(sample.cpu.usPerRequest / other.usPerRequest);
  });
  return median(ratios);
}

// ---------------------------------------------------------------------------------------------
// Markdown.

export function markdownTable(header: string[], rows: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

export function percent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(0)} %` : '-';
}

/** Notes for the targets that saw errors (non-2xx, socket errors), one line each. */
export function errorNotes(results: Summary[]): string {
  const lines = results.filter((r) => r.errors.length).map((r) => `- ${r.name}: ${r.errors.join('; ')}`);
  return lines.length ? `\nErrors seen (the figures of these targets are suspect):\n\n${lines.join('\n')}\n` : '';
}

// ---------------------------------------------------------------------------------------------
// The machine.

function gitDescription(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  if (head.status !== 0) return 'not a git checkout';
  const clean = spawnSync('git', ['diff-index', '--quiet', 'HEAD', '--'], { cwd: repoRoot }).status === 0;
  return `commit ${head.stdout.trim()}${clean ? '' : ' with uncommitted changes'}`;
}

export function describeMachine(extra: string[] = []): string {
  const cpuList = cpus();
  const models = [...new Set(cpuList.map((c) => c.model.trim()))].join(', ');
  const tools = [
    ['HAProxy', toolVersion('haproxy')],
    ['nginx', toolVersion('nginx')],
    ['Caddy', toolVersion('caddy')],
    ['wrk', toolVersion('wrk')],
    ['autocannon', autocannonVersion()],
  ]
    .map(([name, version]) => `${name} ${version ?? 'not installed'}`)
    .join(', ');
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- CPU: ${cpuList.length} × ${models}`,
    `- Memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- Kernel: ${osType()} ${release()}`,
    `- Node.js: ${process.version}`,
    `- Tools: ${tools}`,
    `- lb: ${gitDescription()}`,
    `- Load average at start: ${loadavg().map((n) => n.toFixed(2)).join(', ')}`,
    ...extra.map((line) => `- ${line}`),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// docs/benchmarks.md: the latest run lives between two markers, added with their heading after the
// introduction (before the first dated section) when absent. Nothing else in the file changes.

export const latestStart = '<!-- bench:latest:start -->';
export const latestEnd = '<!-- bench:latest:end -->';

export function writeLatestRun(docPath: string, report: string): void {
  let text = readFileSync(docPath, 'utf8');
  if (!text.includes(latestStart) || !text.includes(latestEnd)) {
    const block = `## Latest run (\`npm run bench\`)\n\n${latestStart}\n${latestEnd}\n\n`;
    const dated = /^## \d{4}-\d{2}-\d{2}/m.exec(text) ?? /^## /m.exec(text);
    text = dated ? text.slice(0, dated.index) + block + text.slice(dated.index) : `${text.trimEnd()}\n\n${block}`;
  }
  const from = text.indexOf(latestStart) + latestStart.length;
  const to = text.indexOf(latestEnd, from);
  if (to < 0) throw new Error(`${docPath}: ${latestEnd} comes before ${latestStart}`);
  writeFileSync(docPath, `${text.slice(0, from)}\n${report.trim()}\n${text.slice(to)}`);
}
