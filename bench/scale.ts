// Two scaling checks of the data plane, on loopback and bounded in time and count:
//  1. route lookup with 10 and with 10,000 host routes (wrk -t1 -c50, Host of the last route);
//  2. lb's RSS with 10,000 idle keep-alive client connections.
// Usage: npm run bench:scale   (needs wrk and nginx-light, like bench/run.ts)
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { benchWorkspace, waitForPort } from './lib.js';

const { work, start } = benchWorkspace('lb-scale-');
const cli = new URL('../dist/cli.js', import.meta.url).pathname;
const backendPort = 18181;

function lbConfig(port: number, routes: number): string {
  const routers = Array.from({ length: routes }, (_, i) => `  r${i}: { entrypoint: web, match: { host: "h${i}.example.com" }, service: app }`).join('\n');
  return `entrypoints: { web: { address: "127.0.0.1:${port}" } }\nadmin: { address: "127.0.0.1:${port + 1}" }\nrouters:\n${routers}\nservices: { app: { servers: [ { url: "http://127.0.0.1:${backendPort}" } ] } }\nlog: { level: error }\n`;
}

async function startLb(port: number, routes: number): Promise<ChildProcess> {
  const file = join(work, `lb-${routes}.yaml`);
  writeFileSync(file, lbConfig(port, routes));
  const child = start(process.execPath, [cli, 'run', '--config', file]);
  await waitForPort(port);
  return child;
}

function rps(port: number, host: string): number {
  const out = spawnSync('wrk', ['-t1', '-c50', '-d5s', '-H', `Host: ${host}`, `http://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: 60_000 });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)![1]);
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

async function main(): Promise<void> {
  writeFileSync(join(work, 'backend.conf'), `worker_processes 1; daemon off; pid ${work}/b.pid; error_log /dev/null;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; server { listen 127.0.0.1:${backendPort}; location / { return 200 "hello world\\n"; } } }`);
  start('nginx', ['-c', join(work, 'backend.conf'), '-p', work]);
  await waitForPort(backendPort);

  console.log('## Route lookup: wrk -t1 -c50 -d5s to the last host route\n\n| host routes | req/s |\n|---:|---:|');
  const results: number[] = [];
  for (const [routes, port] of [[10, 18190], [10_000, 18192]] as const) {
    const lb = await startLb(port, routes);
    rps(port, `h${routes - 1}.example.com`); // warm-up
    const value = rps(port, `h${routes - 1}.example.com`);
    results.push(value);
    console.log(`| ${routes} | ${value.toFixed(0)} |`);
    lb.kill('SIGTERM');
  }
  console.log(`\n10,000 routes vs 10: ${(((results[1]! / results[0]!) - 1) * 100).toFixed(1)} % throughput\n`);

  const port = 18194;
  const lb = await startLb(port, 1);
  const before = rssMb(lb.pid!);
  const sockets: Socket[] = [];
  const total = 10_000;
  for (let opened = 0; opened < total; opened += 500) {
    await Promise.all(Array.from({ length: Math.min(500, total - opened) }, () => new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: h0.example.com\r\n\r\n'));
      socket.once('data', () => resolve());
      socket.once('error', reject);
      sockets.push(socket);
    })));
  }
  await delay(1000);
  const after = rssMb(lb.pid!);
  console.log(`## 10,000 idle keep-alive client connections\n\nlb RSS: ${before.toFixed(0)} MB before, ${after.toFixed(0)} MB with ${sockets.length} idle connections open (+${(after - before).toFixed(0)} MB)`);
  for (const socket of sockets) socket.destroy();
}

main().then(() => process.exit(0), (err: Error) => {
  console.error(err.message);
  process.exit(1);
});
