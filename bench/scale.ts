// Two scaling checks of the data plane, on loopback and bounded in time and count:
//  1. route lookup with 10 and with 10,000 host routes (Host of the last route), in alternating
//     rounds, median per lb;
//  2. lb's RSS with 10,000 idle keep-alive client connections, HTTP/1.1 and HTTP/2 (h2c).
// bench/run.ts runs both as its scenarios "routes" and "idle"; this file runs them alone, and with
// --held, the memory of 50,000 idle and 5,000 slowloris connections (bench/held-connections.ts).
// Usage: npm run bench:scale [-- --duration 3 --rounds 3 --idle 10000 --pin --backend node --load autocannon]
import { realpathSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  alternate,
  benchWorkspace,
  chooseBackend,
  chooseLoadTool,
  commonOptions,
  errorNotes,
  fixed,
  lbCli,
  markdownTable,
  percent,
  pinPlan,
  positiveInt,
  runLoad,
  startBackend,
  type LoadTool,
  type Summary,
  type Workspace,
} from './lib.js';
import { heldConnections } from './held-connections.js';
import { connectionBudget } from '../src/proxy/connection-limits.js';

export interface ScaleContext {
  ws: Workspace;
  load: LoadTool;
  backendPort: number;
  duration: number;
  rounds: number;
  connections: number;
}

function lbConfig(port: number, routes: number, backendPort: number, h2c: boolean): string {
  const routers = Array.from({ length: routes }, (_, i) => `  r${i}: { entrypoint: web, match: { host: "h${i}.example.com" }, service: app }`).join('\n');
  return `entrypoints: { web: { address: "127.0.0.1:${port}"${h2c ? ', http2: { cleartext: true }' : ''} } }\nadmin: { address: "127.0.0.1:${port + 1}" }\nrouters:\n${routers}\nservices: { app: { servers: [ { url: "http://127.0.0.1:${backendPort}" } ] } }\nlog: { level: error }\n`;
}

async function startLb(ctx: ScaleContext, port: number, routes: number, h2c = false) {
  const file = join(ctx.ws.work, `lb-${routes}-routes${h2c ? '-h2c' : ''}.yaml`);
  writeFileSync(file, lbConfig(port, routes, ctx.backendPort, h2c));
  return ctx.ws.startListening(process.execPath, [lbCli, 'run', '--config', file], port, 'proxy', 60_000);
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** req/s through lb with 10 and with 10,000 host routes, to the last route. Ports port..port+3. */
export async function routeLookup(ctx: ScaleContext, port = 18190): Promise<{ results: Summary[]; markdown: string }> {
  const targets = [
    { name: '10', routes: 10, port },
    { name: '10000', routes: 10_000, port: port + 2 },
  ];
  const lbs = [];
  for (const t of targets) lbs.push(await startLb(ctx, t.port, t.routes));
  const measure = (t: (typeof targets)[number], seconds = ctx.duration) =>
    runLoad(ctx.ws, ctx.load, { url: `http://127.0.0.1:${t.port}/`, connections: ctx.connections, seconds, headers: { Host: `h${t.routes - 1}.example.com` } });
  try {
    for (const t of targets) await measure(t, 1); // warm-up
    const results = await alternate(targets, ctx.rounds, (t) => measure(t));
    const base = results[0]!.rps;
    const table = markdownTable(
      ['host routes', 'req/s', 'p50 ms', 'p99 ms', '× 10 routes', 'spread over rounds'],
      results.map((r) => [r.name, fixed(r.rps, 0), fixed(r.p50ms, 3), fixed(r.p99ms, 3), fixed(r.rps / base, 2), percent(r.spread)]),
    );
    const delta = (results[1]!.rps / base - 1) * 100;
    const change = `${delta >= 0 ? '+' : ''}${delta.toFixed(1)}`;
    const rounding = `${ctx.rounds} round${ctx.rounds > 1 ? 's' : ''} × ${ctx.duration}s, median`;
    const markdown = `### Route lookup: 10 vs 10,000 host routes, ${ctx.load === 'wrk' ? 'wrk -t1' : 'autocannon'} -c${ctx.connections} to the last route, ${rounding}\n\n${table}\n\n10,000 routes vs 10: ${change} % throughput.\n${errorNotes(results)}`;
    return { results, markdown };
  } finally {
    for (const lb of lbs) lb.kill('SIGTERM');
  }
}

/** A connection that has made one HTTP/1.1 request and read the start of its answer. */
function http1Idle(port: number, sockets: Socket[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: h0.example.com\r\n\r\n'));
    // A refused connection is answered too (503, then closed): only a 200 is an idle connection.
    socket.once('data', (chunk: Buffer) => (chunk.subarray(0, 12).toString('latin1') === 'HTTP/1.1 200' ? resolve() : reject(new Error(`lb answered ${chunk.subarray(0, 12).toString('latin1')} instead of 200`))));
    socket.on('error', reject);
    socket.once('close', () => reject(new Error('lb closed an idle connection before answering')));
    sockets.push(socket);
  });
}

/** An HTTP/2 frame header: 3-byte length, type, flags, stream id. */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  frame(0x4, 0, 0, Buffer.alloc(0)),
  // HEADERS, END_STREAM | END_HEADERS, stream 1, in HPACK: :method GET, :scheme http, :path / (static
  // table 2, 6, 4), then :authority (name 1) as a literal with incremental indexing.
  frame(0x1, 0x5, 1, Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x41, 14]), Buffer.from('h0.example.com')])),
]);
const SETTINGS_ACK = frame(0x4, 0x1, 0, Buffer.alloc(0));

/**
 * An HTTP/2 connection (h2c, prior knowledge) that has made one request and got its response
 * head, written as raw frames so that the bench's own memory stays small: lb's SETTINGS are
 * acknowledged, the rest read and dropped.
 */
function http2Idle(port: number, sockets: Socket[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(H2_PREFACE));
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const [type, flags] = [pending[3]!, pending[4]!];
        const stream = pending.readUInt32BE(5) & 0x7fffffff;
        if (type === 0x4 && (flags & 0x1) === 0) socket.write(SETTINGS_ACK);
        if (type === 0x1 && stream === 1) resolve();
        if (type === 0x7) reject(new Error('lb sent GOAWAY to an idle HTTP/2 connection'));
        pending = pending.subarray(9 + length);
      }
    });
    socket.on('error', reject);
    socket.once('close', () => reject(new Error('lb closed an idle HTTP/2 connection before answering')));
    sockets.push(socket);
  });
}

export interface IdleRow {
  protocol: string;
  beforeMb: number;
  afterMb: number;
  opened: number;
}

/** lb's RSS before and with `count` idle connections of `protocol` (opened 500 at a time), in an lb of its own. */
async function idleRow(ctx: ScaleContext, port: number, count: number, protocol: 'HTTP/1.1' | 'HTTP/2 (h2c)'): Promise<IdleRow> {
  const lb = await startLb(ctx, port, 1, protocol !== 'HTTP/1.1');
  const sockets: Socket[] = [];
  const opener = protocol === 'HTTP/1.1' ? http1Idle : http2Idle;
  try {
    const before = rssMb(lb.pid!);
    const open = async (): Promise<void> => {
      for (let opened = 0; opened < count; opened += 500) {
        await Promise.all(Array.from({ length: Math.min(500, count - opened) }, () => opener(port, sockets)));
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`opening ${count} ${protocol} connections took over 120s`)), 120_000);
    });
    const opening = open();
    opening.catch(() => {}); // reported through the race; not again once the deadline has won it
    try {
      await Promise.race([opening, deadline]);
    } finally {
      clearTimeout(timer);
    }
    await delay(1000);
    return { protocol, beforeMb: before, afterMb: rssMb(lb.pid!), opened: sockets.length };
  } finally {
    for (const socket of sockets) socket.destroy();
    lb.kill('SIGTERM');
  }
}

/**
 * lb's RSS before and with `count` idle client connections that have each made one request:
 * HTTP/1.1 keep-alive ones (ports port, port+1), then HTTP/2 ones in cleartext (port+2, port+3),
 * each protocol in an lb of its own.
 */
export async function idleConnections(ctx: ScaleContext, port = 18194, asked = 10_000): Promise<{ rows: IdleRow[]; markdown: string }> {
  // lb refuses client connections above its budget from the open-file limit it inherits from here
  // (HTTP/1.1 with a 503, HTTP/2 by closing): asking for more would measure refusals. A few stay
  // free for the admin API and the server connections.
  const budget = Math.max(1, connectionBudget() - 16);
  const count = Math.min(asked, budget);
  const capped = count < asked ? `\n${asked.toLocaleString('en')} were asked for; ${count.toLocaleString('en')} is what lb admits under this open-file limit (its connection budget, (ulimit -n − 128) ÷ 2, less a few). Raise \`ulimit -n\` to measure more.\n` : '';
  const rows = [await idleRow(ctx, port, count, 'HTTP/1.1'), await idleRow(ctx, port + 2, count, 'HTTP/2 (h2c)')];
  const perConnKb = (r: IdleRow) => ((r.afterMb - r.beforeMb) * 1024) / r.opened;
  const table = markdownTable(
    ['protocol', 'idle connections', 'lb RSS before', 'lb RSS with them', 'added', 'per connection', '× HTTP/1.1'],
    rows.map((r) => [r.protocol, String(r.opened), `${fixed(r.beforeMb, 0)} MB`, `${fixed(r.afterMb, 0)} MB`, `${fixed(r.afterMb - r.beforeMb, 0)} MB`, `${fixed(perConnKb(r), 1)} KB`, fixed(perConnKb(r) / perConnKb(rows[0]!), 2)]),
  );
  return { rows, markdown: `### ${count.toLocaleString('en')} idle client connections, HTTP/1.1 keep-alive and HTTP/2\n\n${table}\n${capped}` };
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      ...commonOptions,
      connections: { type: 'string', default: '50' },
      idle: { type: 'string', default: '10000' },
      held: { type: 'string' },
      slowloris: { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (args.help) {
    process.stdout.write(`npm run bench:scale [-- options]: lb's RSS with N idle keep-alive connections, and
throughput with 10 against 10,000 host routes, on loopback (see bench/README.md).
  --idle N          idle connections (default 10000)
  --held N          also hold N idle keep-alive connections, then --slowloris M (default 5000)
                    slowloris ones, with lb's RSS, through enough workers and holder processes
                    for this machine's open-file limit (bench/held-connections.ts)
  --connections N   wrk connections for the routes scenario (default 50)
  --duration S      seconds per measurement (default 3)
  --rounds N        alternating rounds, medians reported (default 3)
  --pin             pin backend, lb and load generator to separate cores (4 cores or more)
  --backend KIND    nginx | node (default: nginx when installed)
  --load TOOL       wrk | autocannon (default: wrk when installed)
`);
    return;
  }
  const ws = benchWorkspace('lb-scale-');
  const plan = pinPlan(args.pin);
  ws.setPinning(plan.pinning);
  const ctx: ScaleContext = {
    ws,
    load: chooseLoadTool(args.load),
    backendPort: 18181,
    duration: positiveInt('duration', args.duration),
    rounds: positiveInt('rounds', args.rounds),
    connections: positiveInt('connections', args.connections),
  };
  const backend = chooseBackend(args.backend);
  console.log(`backend: ${backend}, load generator: ${ctx.load}, pinning: ${plan.note}\n`);
  await startBackend(ws, backend, ctx.backendPort);
  console.log((await routeLookup(ctx)).markdown);
  console.log((await idleConnections(ctx, 18194, positiveInt('idle', args.idle))).markdown);
  if (args.held !== undefined) console.log((await heldConnections(ws, ctx.backendPort, positiveInt('held', args.held), positiveInt('slowloris', args.slowloris))).markdown);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
