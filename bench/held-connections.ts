// Memory of held client connections: lb's RSS (all its processes) before, while holding, and after
//  1. N idle keep-alive client connections (default 50,000), each having made one request, opened
//     from several source addresses in 127.0.0.0/8 (one address pair has about 28,000 ports);
//  2. M slowloris connections (default 5,000), each dripping a header byte a second.
// A connection holds one file descriptor in lb, and one process may hold about (open-file limit −
// 128) ÷ 2 (src/proxy/connection-limits.ts): when N is above that, lb runs with enough workers,
// and the holders run as several processes, each with a limit of its own. Meanwhile a probe
// client's requests measure whether lb still serves. Bounded in count and time; every process it
// starts is stopped at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool, request } from 'undici';
import { fixed, lbCli, markdownTable, nodeScript, treeRss, type Workspace } from './lib.js';

/** Connections one holder process opens: under this machine's open-file limit (20,000 here), with room. */
const PER_HOLDER = 8_500;
/**
 * Connections per lb worker, on average: its budget is about 9,900 under a limit of 20,000, and
 * Node's round-robin hands a busy worker fewer connections than the others, so leave room.
 */
const PER_LB_PROCESS = 6_000;
const PROBES = 300;

export interface HeldRow {
  scenario: string;
  held: number;
  processes: number;
  beforeBytes: number;
  holdingBytes: number;
  afterBytes: number;
  probeP50Ms: number;
  probeP99Ms: number;
  closedByLb: number;
  /** lb_connections_refused_total, by reason. */
  refused: string;
}

async function refusedConnections(adminPort: number): Promise<string> {
  const text = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
  const counts = [...text.matchAll(/^lb_connections_refused_total\{[^}]*reason="([^"]+)"[^}]*\} (\d+)/gm)].filter((m) => m[2] !== '0');
  return counts.length ? counts.map((m) => `${m[2]} ${m[1]}`).join(', ') : '0';
}

interface Holder {
  child: ChildProcess;
  ready: Promise<number>;
  stop(): Promise<number>;
}

function startHolder(port: number, count: number, localAddress: string, mode: 'idle' | 'slowloris', started: ChildProcess[]): Holder {
  const [command, args] = nodeScript('./connection-holder.ts', [String(port), String(count), localAddress, mode]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(child);
  const lines = createInterface({ input: child.stdout! });
  const next = (prefix: string, timeoutMs: number) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection holder (${localAddress}): no "${prefix}" within ${timeoutMs / 1000}s`)), timeoutMs);
      const onLine = (line: string) => {
        if (!line.startsWith(`${prefix} `)) return;
        clearTimeout(timer);
        lines.off('line', onLine);
        resolve(Number(line.slice(prefix.length + 1)));
      };
      lines.on('line', onLine);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`connection holder (${localAddress}) exited (${code}) before "${prefix}"`));
      });
    });
  const ready = next('ready', 180_000);
  return {
    child,
    ready,
    stop: () => {
      const closed = next('closed', 10_000);
      child.kill('SIGTERM');
      return closed;
    },
  };
}

async function probe(url: string): Promise<{ p50: number; p99: number }> {
  const pool = new Pool(url, { connections: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < PROBES; i++) {
      const started = performance.now();
      const res = await pool.request({ path: '/', method: 'GET', headers: { host: 'held.example.com' }, headersTimeout: 10_000, bodyTimeout: 10_000 });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`probe answered ${res.statusCode}`);
      times.push(performance.now() - started);
    }
  } finally {
    await pool.close();
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]! };
}

/** Both scenarios, each on an lb of its own with enough workers; ports port and port + 1. */
export async function heldConnections(ws: Workspace, backendPort: number, idle: number, slowloris: number, port = 18196): Promise<{ rows: HeldRow[]; markdown: string }> {
  const started: ChildProcess[] = [];
  const rows: HeldRow[] = [];
  try {
    for (const [scenario, mode, count] of [['idle keep-alive', 'idle', idle], ['slowloris', 'slowloris', slowloris]] as const) {
      const workers = Math.ceil(count / PER_LB_PROCESS);
      const file = join(ws.work, `lb-held-${mode}.yaml`);
      writeFileSync(file, [
        `entrypoints: { web: { address: "127.0.0.1:${port}", timeouts: { requestHeaders: 120s, idle: 10m } } }`,
        `admin: { address: "127.0.0.1:${port + 1}" }`,
        ...(workers > 1 ? [`workers: ${workers}`] : []),
        'routers: { all: { entrypoint: web, service: app } }',
        `services: { app: { servers: [ { url: "http://127.0.0.1:${backendPort}" } ] } }`,
        'log: { level: error }',
      ].join('\n'));
      // The admin API opens once every worker listens: the web port may open with the first.
      const lb = await ws.startListening(process.execPath, [lbCli, 'run', '--config', file], port + 1, 'proxy', 120_000);
      await delay(2_000);
      const before = treeRss(lb.pid!);
      const holders: Holder[] = [];
      for (let i = 0, left = count; left > 0; i++, left -= PER_HOLDER) holders.push(startHolder(port, Math.min(PER_HOLDER, left), `127.0.0.${2 + i}`, mode, started));
      const held = (await Promise.all(holders.map((h) => h.ready))).reduce((a, b) => a + b, 0);
      // Slowloris heads pass to Node's parser after a few reads: let every connection drip a few bytes first.
      await delay(mode === 'slowloris' ? 10_000 : 3_000);
      const holding = treeRss(lb.pid!);
      const probed = await probe(`http://127.0.0.1:${port}`);
      const refused = await refusedConnections(port + 1);
      const closedByLb = (await Promise.all(holders.map((h) => h.stop()))).reduce((a, b) => a + b, 0);
      await delay(3_000);
      const after = treeRss(lb.pid!);
      // Gone before the next scenario binds the same ports (it drains for up to 30 s after SIGTERM).
      const exited = new Promise((resolve) => lb.once('exit', resolve));
      lb.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), delay(35_000).then(() => false)]))) lb.kill('SIGKILL');
      rows.push({ scenario, held, processes: holding.processes, beforeBytes: before.bytes, holdingBytes: holding.bytes, afterBytes: after.bytes, probeP50Ms: probed.p50, probeP99Ms: probed.p99, closedByLb, refused });
    }
  } finally {
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  }
  const mib = (bytes: number) => `${fixed(bytes / 2 ** 20, 0)} MiB`;
  const table = markdownTable(
    ['connections', 'held', 'lb processes', 'RSS before', 'RSS holding', 'per connection', 'RSS after', 'probe p50', 'probe p99', 'closed by lb', 'refused (lb_connections_refused_total)'],
    rows.map((r) => [r.scenario, r.held.toLocaleString('en'), String(r.processes), mib(r.beforeBytes), mib(r.holdingBytes), `${fixed((r.holdingBytes - r.beforeBytes) / r.held / 1024, 1)} KiB`, mib(r.afterBytes), `${fixed(r.probeP50Ms, 2)} ms`, `${fixed(r.probeP99Ms, 2)} ms`, String(r.closedByLb), r.refused]),
  );
  const markdown = `### Held client connections: ${idle.toLocaleString('en')} idle keep-alive and ${slowloris.toLocaleString('en')} slowloris\n\n${table}\n\nRSS of all lb processes (the primary and its workers); a probe client's ${PROBES} sequential GETs while the connections are held.\n`;
  return { rows, markdown };
}
