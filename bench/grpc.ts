// gRPC unary calls through lb against direct calls (and HAProxy with `proto h2` on both sides,
// where installed): h2load sends the Echo service's Unary call (a gRPC-framed message, content-type
// application/grpc, te: trailers) with prior knowledge over h2c, to a @grpc/grpc-js server in a
// process of its own. Targets alternate round by round; the CPU time of the proxy and of the gRPC
// server are both counted per call. bench/run.ts runs it as its scenario "grpc".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { EchoClient, type EchoClientType, type Message } from '../test/helpers/grpc-echo.js';
import { alternate, errorNotes, fixed, hasTool, lbCli, markdownTable, nodeScript, percent, runH2load, withCpu, type Sample, type Workspace } from './lib.js';

export interface GrpcPorts {
  server: number;
  lb: number;
  lbAdmin: number;
  haproxy: number;
}

export interface GrpcContext {
  ws: Workspace;
  ports: GrpcPorts;
  duration: number;
  rounds: number;
}

const CONNECTIONS = 10;
const STREAMS = 10;
const CALL_PATH = '/lb.test.Echo/Unary';

interface GrpcTarget {
  name: string;
  port: number;
  pid: number | undefined;
}

/** One Unary call with grpc-js, so that a target answering 200 with an error status is caught before it is measured. */
function checkCall(port: number): Promise<void> {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as EchoClientType;
  return new Promise<void>((resolve, reject) => {
    (client.unary as (m: Message, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Message) => void) => void)({ text: 'hi' }, { deadline: Date.now() + 10_000 }, (err, reply) => {
      client.close();
      if (err) reject(new Error(`a gRPC call to port ${port} failed: ${err.message}`));
      else if (reply?.text !== 'echo hi') reject(new Error(`a gRPC call to port ${port} answered ${JSON.stringify(reply)}`));
      else resolve();
    });
  });
}

export async function grpcUnary(ctx: GrpcContext): Promise<{ markdown: string }> {
  const { ws, ports } = ctx;
  const [serverCmd, serverArgs] = nodeScript('../test/fixtures/grpc-echo-server.ts', [String(ports.server)]);
  const server = await ws.startListening(serverCmd, serverArgs, ports.server, 'backend');
  const lbFile = join(ws.work, 'lb-grpc.yaml');
  writeFileSync(lbFile, `
entrypoints: { grpc: { address: "127.0.0.1:${ports.lb}", http2: { cleartext: true } } }
admin: { address: "127.0.0.1:${ports.lbAdmin}" }
routers: { echo: { entrypoint: grpc, service: echo } }
services: { echo: { servers: [ { url: "h2c://127.0.0.1:${ports.server}" } ] } }
log: { level: error }
`);
  const lb = await ws.startListening(process.execPath, [lbCli, 'run', '--config', lbFile], ports.lb, 'proxy', 60_000);
  const targets: GrpcTarget[] = [
    { name: 'direct', port: ports.server, pid: undefined },
    { name: 'lb-grpc', port: ports.lb, pid: lb.pid },
  ];
  const notes: string[] = [];
  if (hasTool('haproxy')) {
    const cfg = join(ws.work, 'haproxy-grpc.cfg');
    writeFileSync(cfg, `
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend grpc
  bind 127.0.0.1:${ports.haproxy} proto h2
  default_backend echo
backend echo
  server echo 127.0.0.1:${ports.server} proto h2
`);
    const haproxy = await ws.startListening('haproxy', ['-f', cfg], ports.haproxy, 'proxy');
    targets.splice(1, 0, { name: 'haproxy-grpc', port: ports.haproxy, pid: haproxy.pid });
  } else notes.push('Skipped haproxy-grpc: haproxy is not installed.');
  for (const t of targets) await checkCall(t.port);

  // The Unary request as gRPC frames it: not compressed, a 4-byte length, the message (JSON for this test service).
  const message = Buffer.from(JSON.stringify({ text: 'hi' }));
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1);
  message.copy(body, 5);
  const bodyFile = join(ws.work, 'grpc-unary.bin');
  writeFileSync(bodyFile, body);
  const h2loadArgs = ['-d', bodyFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers'];
  const measure = (t: GrpcTarget, seconds: number) => runH2load(ws, { url: `http://127.0.0.1:${t.port}${CALL_PATH}`, connections: CONNECTIONS, streams: STREAMS, seconds, args: h2loadArgs });
  for (const t of targets) await measure(t, 1); // warm-up

  // The server's CPU per call beside the proxy's: the outer withCpu reads the server's process.
  const serverUs = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const results = await alternate(targets, ctx.rounds, async (t) => {
    let proxied: Sample | undefined;
    const outer = await withCpu(server.pid, async () => (proxied = await withCpu(t.pid, () => measure(t, ctx.duration))));
    if (outer.cpu) serverUs.get(t.name)!.push(outer.cpu.usPerRequest);
    return proxied!;
  });
  const byName = new Map(results.map((r) => [r.name, r]));
  const direct = byName.get('direct')!;
  const haproxy = byName.get('haproxy-grpc');
  const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
  const table = markdownTable(
    ['target', 'calls/s', '× direct', 'proxy CPU µs/call', 'CPU × HAProxy', 'server CPU µs/call', 'spread over rounds'],
    results.map((r) => [
      r.name,
      fixed(r.rps, 0),
      fixed(r.rps / direct.rps, 2),
      Number.isFinite(r.cpuUsPerRequest) ? fixed(r.cpuUsPerRequest, 1) : '-',
      haproxy && Number.isFinite(r.cpuUsPerRequest) ? fixed(haproxy.cpuUsPerRequest / r.cpuUsPerRequest, 2) : '-',
      fixed(medianOf(serverUs.get(r.name)!), 1),
      percent(r.spread),
    ]),
  );
  const rounding = `${ctx.rounds} round${ctx.rounds > 1 ? 's' : ''} × ${ctx.duration}s, median`;
  return {
    markdown: `### gRPC unary calls: h2load -c${CONNECTIONS} -m${STREAMS} (h2c) to ${CALL_PATH} of a @grpc/grpc-js server, ${rounding}\n\n${table}\n\n${[
      'A call is one HTTP/2 stream: the request message in DATA, the answer in DATA and its trailers (grpc-status). lb speaks h2c to the server (`h2c://`), HAProxy `proto h2`. proxy CPU µs/call: the proxy\'s utime + stime ÷ calls; server CPU µs/call: the gRPC server\'s, the same for every target when the proxy adds nothing for it to do.',
      ...notes,
    ].join('\n')}\n${errorNotes(results)}`,
  };
}
