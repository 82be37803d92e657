// The forwarding benchmark: lb against a direct connection, HAProxy, nginx and http-proxy, all on
// loopback on this machine, with wrk. Every run is bounded (wrk -d), and every process started
// here is stopped on exit. Usage: npm run bench [-- --duration 5 --connections 50]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchWorkspace, waitForPort } from './lib.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
  },
});
const duration = Number(args.duration);
const connections = Number(args.connections);

const ports = { backend: 18081, direct: 18081, lb: 18090, lbTcp: 18091, lbAdmin: 18092, haproxy: 18093, haproxyTcp: 18094, nginx: 18095, httpProxy: 18096, lbLogged: 18097, lbLoggedAdmin: 18098 };
const { work, start } = benchWorkspace('lb-bench-');

function requireTool(name: string): void {
  if (spawnSync('sh', ['-c', `command -v ${name}`]).status !== 0) {
    console.error(`bench needs ${name}: apt-get install -y wrk haproxy nginx-light`);
    process.exit(2);
  }
}

interface Result {
  name: string;
  rps: number;
  p50ms: number;
  p99ms: number;
  bytesPerSec: number;
}

function toMs(text: string): number {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return NaN;
  const n = Number(match[1]);
  return match[2] === 'us' ? n / 1000 : match[2] === 's' ? n * 1000 : n;
}

function toBytes(text: string): number {
  const match = /([\d.]+)([KMG]?B)/.exec(text);
  if (!match) return NaN;
  return Number(match[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[match[2] as 'B' | 'KB' | 'MB' | 'GB'];
}

function wrk(name: string, url: string, conns = connections, seconds = duration): Result {
  const out = spawnSync('wrk', ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency', url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  if (out.status !== 0) throw new Error(`wrk failed for ${name}: ${out.stderr}`);
  const text = out.stdout;
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(text);
  if (errors) console.error(`  ${name}: ${errors[0]}`);
  return {
    name,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)![1]),
    p50ms: toMs(/^\s*50(?:\.0+)?%\s+(\S+)/m.exec(text)?.[1] ?? ''),
    p99ms: toMs(/^\s*99(?:\.0+)?%\s+(\S+)/m.exec(text)?.[1] ?? ''),
    bytesPerSec: toBytes(/Transfer\/sec:\s+(\S+)/.exec(text)![1]!),
  };
}

function writeConfigs(): void {
  writeFileSync(join(work, 'backend.conf'), `
worker_processes 1; daemon off; pid ${work}/backend.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${ports.backend};
    location / { return 200 "hello world\\n"; }
    location = /1m { default_type application/octet-stream; alias ${work}/1m.bin; }
  }
}`);
  writeFileSync(join(work, '1m.bin'), Buffer.alloc(1024 * 1024, 97));
  writeFileSync(join(work, 'proxy-nginx.conf'), `
worker_processes 1; daemon off; pid ${work}/proxy.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${ports.backend}; keepalive 64; }
  server {
    listen 127.0.0.1:${ports.nginx};
    location / {
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}`);
  writeFileSync(join(work, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 4096
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend web
  mode http
  bind 127.0.0.1:${ports.haproxy}
  option forwardfor
  default_backend app
backend app
  mode http
  http-reuse always
  server s1 127.0.0.1:${ports.backend}
frontend tcp
  mode tcp
  bind 127.0.0.1:${ports.haproxyTcp}
  default_backend apptcp
backend apptcp
  mode tcp
  server s1 127.0.0.1:${ports.backend}
`);
  writeFileSync(join(work, 'lb.yaml'), `
entrypoints:
  web: { address: "127.0.0.1:${ports.lb}" }
  tcp: { address: "127.0.0.1:${ports.lbTcp}", protocol: tcp }
admin: { address: "127.0.0.1:${ports.lbAdmin}" }
routers:
  app: { entrypoint: web, match: { host: "127.0.0.1" }, service: app }
  tcp: { entrypoint: tcp, service: tcp }
services:
  app: { servers: [ { url: "http://127.0.0.1:${ports.backend}" } ] }
  tcp: { servers: [ { address: "127.0.0.1:${ports.backend}" } ] }
log: { level: error }
`);
  // The same lb with access logs on, to measure what they cost.
  writeFileSync(join(work, 'lb-logged.yaml'), `
entrypoints: { web: { address: "127.0.0.1:${ports.lbLogged}" } }
admin: { address: "127.0.0.1:${ports.lbLoggedAdmin}" }
accessLog: { enabled: true, path: "${join(work, 'access.log')}" }
routers: { app: { entrypoint: web, match: { host: "127.0.0.1" }, service: app } }
services: { app: { servers: [ { url: "http://127.0.0.1:${ports.backend}" } ] } }
log: { level: error }
`);
  writeFileSync(join(work, 'http-proxy.cjs'), `
const http = require('node:http');
const httpProxy = require(${JSON.stringify(new URL('../node_modules/http-proxy', import.meta.url).pathname)});
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: 'http://127.0.0.1:${ports.backend}', agent, xfwd: true });
proxy.on('error', (err, req, res) => { res.writeHead(502); res.end(); });
http.createServer((req, res) => proxy.web(req, res)).listen(${ports.httpProxy}, '127.0.0.1');
`);
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'haproxy', 'nginx']) requireTool(tool);
  writeConfigs();
  start('nginx', ['-c', join(work, 'backend.conf'), '-p', work]);
  start('nginx', ['-c', join(work, 'proxy-nginx.conf'), '-p', work]);
  start('haproxy', ['-f', join(work, 'haproxy.cfg')]);
  start(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, 'run', '--config', join(work, 'lb.yaml')]);
  start(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, 'run', '--config', join(work, 'lb-logged.yaml')]);
  start(process.execPath, [join(work, 'http-proxy.cjs')]);
  for (const port of [ports.backend, ports.nginx, ports.haproxy, ports.haproxyTcp, ports.lb, ports.lbTcp, ports.httpProxy, ports.lbLogged]) await waitForPort(port);

  const targets: Array<[string, number]> = [
    ['direct', ports.direct],
    ['haproxy-http', ports.haproxy],
    ['lb-http', ports.lb],
    ['lb-http-access-log', ports.lbLogged],
    ['nginx-proxy', ports.nginx],
    ['http-proxy', ports.httpProxy],
    ['haproxy-tcp', ports.haproxyTcp],
    ['lb-tcp', ports.lbTcp],
  ];
  const selected = args.only ? targets.filter(([name]) => args.only!.split(',').includes(name)) : targets;
  for (const [, port] of selected) wrk('warm-up', `http://127.0.0.1:${port}/`, 10, 1);

  console.log(`\n## Small responses: wrk -t1 -c${connections} -d${duration}s, 12-byte body\n`);
  const small = selected.map(([name, port]) => wrk(name, `http://127.0.0.1:${port}/`));
  printTable(small, 'haproxy-http');

  console.log(`\n## Added latency at 1 connection: wrk -t1 -c1 -d${duration}s\n`);
  const single = selected.filter(([name]) => ['direct', 'haproxy-http', 'lb-http'].includes(name)).map(([name, port]) => wrk(name, `http://127.0.0.1:${port}/`, 1));
  const direct = single.find((r) => r.name === 'direct');
  console.log('| target | p50 ms | p99 ms | p50 added over direct |\n|---|---:|---:|---:|');
  for (const r of single) console.log(`| ${r.name} | ${r.p50ms.toFixed(3)} | ${r.p99ms.toFixed(3)} | ${direct ? (r.p50ms - direct.p50ms).toFixed(3) : '-'} ms |`);

  console.log(`\n## Large responses: 1 MB body, wrk -t1 -c8 -d${duration}s\n`);
  const large = selected.filter(([name]) => ['direct', 'haproxy-http', 'lb-http', 'haproxy-tcp', 'lb-tcp'].includes(name)).map(([name, port]) => wrk(name, `http://127.0.0.1:${port}/1m`, 8));
  printTable(large, 'haproxy-http', true);
}

function printTable(results: Result[], reference: string, bytes = false): void {
  const ref = results.find((r) => r.name === reference);
  const direct = results.find((r) => r.name === 'direct');
  const refTcp = results.find((r) => r.name === 'haproxy-tcp');
  console.log(`| target | ${bytes ? 'MB/s' : 'req/s'} | p50 ms | p99 ms | × HAProxy (same mode) | × direct |\n|---|---:|---:|---:|---:|---:|`);
  for (const r of results) {
    const value = bytes ? r.bytesPerSec : r.rps;
    const peer = r.name.endsWith('-tcp') ? refTcp : ref;
    const peerValue = peer ? (bytes ? peer.bytesPerSec : peer.rps) : NaN;
    const directValue = direct ? (bytes ? direct.bytesPerSec : direct.rps) : NaN;
    console.log(`| ${r.name} | ${bytes ? (value / 1024 / 1024).toFixed(0) : value.toFixed(0)} | ${r.p50ms.toFixed(3)} | ${r.p99ms.toFixed(3)} | ${(value / peerValue).toFixed(2)} | ${(value / directValue).toFixed(2)} |`);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
