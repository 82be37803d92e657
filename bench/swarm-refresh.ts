// The Swarm provider's own cost, with a stand-in for a manager's API (a unix socket) that serves
// N tasks of the real shape over S services: the first snapshot, and the CPU of a refresh that
// changes nothing (lb reads /services, /tasks, /nodes and /networks again every refreshInterval).
// Usage: npm run bench:swarm [-- --tasks 10000 --services 1000 --seconds 10]
// With --real, the scale of a real 3-node swarm instead (bench/swarm-real.ts):
// npm run bench:swarm -- --real [--services 30 --replicas 10]
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { startBalancer } from '../src/lb.js';
import { createLogger } from '../src/log.js';
import { realSwarmScale } from './swarm-real.js';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '10000' }, services: { type: 'string' }, seconds: { type: 'string', default: '10' }, real: { type: 'boolean', default: false }, replicas: { type: 'string', default: '10' } } });
const taskCount = Number(values.tasks);
const serviceCount = Number(values.services ?? (values.real ? 30 : 1000));
const network = { ID: 'ov0000000000000000000000', Spec: { Name: 'ov', Labels: {}, DriverConfiguration: { Name: 'overlay' }, Scope: 'swarm' } };
const nodes = [1, 2, 3].map((n) => ({ ID: `node${n}`.padEnd(25, '0'), Description: { Hostname: `node${n}` }, Status: { State: 'ready', Addr: `10.0.0.${n}` }, Spec: { Availability: 'active', Role: n === 1 ? 'manager' : 'worker' } }));
const services = Array.from({ length: serviceCount }, (_, i) => ({
  ID: `svc${String(i).padStart(22, '0')}`,
  CreatedAt: new Date(1_700_000_000_000 + i).toISOString(),
  Spec: { Name: `app${i}`, Labels: { 'lb.enable': 'true', 'lb.host': `app${i}.example.com`, 'lb.port': '8080' }, TaskTemplate: { ContainerSpec: { Image: 'app:1' } }, Mode: { Replicated: { Replicas: taskCount / serviceCount } }, EndpointSpec: { Mode: 'vip' } },
  Endpoint: { Spec: { Mode: 'vip' }, VirtualIPs: [{ NetworkID: network.ID, Addr: `10.1.${i >> 8}.${i & 255}/16` }] },
}));
const tasks = Array.from({ length: taskCount }, (_, i) => ({
  ID: `task${String(i).padStart(21, '0')}`,
  ServiceID: services[i % serviceCount]!.ID,
  NodeID: nodes[i % 3]!.ID,
  Slot: Math.floor(i / serviceCount) + 1,
  DesiredState: 'running',
  Status: { State: 'running', Message: 'started', ContainerStatus: { ContainerID: `c${String(i).padStart(63, '0')}`, PID: 1000 + i, ExitCode: 0 } },
  NetworksAttachments: [{ Network: network, Addresses: [`10.2.${i >> 8}.${i & 255}/16`] }],
}));
const bodies: Record<string, string> = {
  '/_ping': 'OK',
  '/version': JSON.stringify({ Version: 'stand-in', ApiVersion: '1.41' }),
  '/info': JSON.stringify({ Swarm: { LocalNodeState: 'active', ControlAvailable: true, NodeID: nodes[0]!.ID, Cluster: { ID: 'cluster' } } }),
  '/services': JSON.stringify(services),
  '/tasks': JSON.stringify(tasks),
  '/nodes': JSON.stringify(nodes),
  '/networks': JSON.stringify([{ Id: network.ID, Name: 'ov' }]),
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-swarm-bench-'));
  const socket = join(dir, 'docker.sock');
  let taskReads = 0;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').replace(/^\/v[\d.]+/, '').split('?')[0]!;
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return;
    }
    if (path === '/tasks') taskReads++;
    const body = bodies[path];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(body ?? '{"message":"not in the stand-in"}');
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  try {
    const config = parseConfig(`entrypoints: { web: { address: "127.0.0.1:0" } }\nadmin: { address: "127.0.0.1:0" }\nproviders: { swarm: { enabled: true, endpoint: "unix://${socket}" } }\n`, 'bench.yaml');
    const started = performance.now();
    const balancer = await startBalancer(config, createLogger('silent'));
    const servers = [...balancer.control.snapshot.services.values()].reduce((sum, s) => sum + s.backends.length, 0);
    console.log(`${taskCount} tasks over ${serviceCount} services: first snapshot with ${servers} servers in ${(performance.now() - started).toFixed(0)} ms`);
    // lb and the stand-in share this process: the stand-in's share is its JSON, already serialised.
    const reads = taskReads;
    const cpu = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, Number(values.seconds) * 1000));
    const used = process.cpuUsage(cpu);
    const refreshes = taskReads - reads;
    console.log(`${refreshes} refreshes with nothing changed: ${((used.user + used.system) / 1000 / Math.max(refreshes, 1)).toFixed(1)} ms CPU each (lb and the stand-in together)`);
    await balancer.stop(100);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

(values.real ? realSwarmScale(serviceCount, Number(values.replicas)).then((ok) => { if (!ok) process.exitCode = 1; }) : main()).catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
