// The forwarding benchmark: lb against a direct connection and, where installed, HAProxy, nginx and
// http-proxy, all on loopback on this machine. Targets are measured in alternating rounds and the
// median per target is reported, so that drift in the machine's load cancels out; next to req/s, the
// CPU time each proxy's processes spend per request (from /proc). Every load run is bounded in time
// and every process started here is stopped on exit, even on error.
// The report (markdown) is printed and written into docs/benchmarks.md between the markers
// <!-- bench:latest:start --> and <!-- bench:latest:end --> unless --no-write is given.
// Usage: npm run bench [-- --duration 3 --rounds 3 --scenarios small,latency --only direct,lb-http --no-write]
// See bench/README.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  alternate,
  apiJson,
  benchWorkspace,
  chooseBackend,
  chooseLoadTool,
  clockTicks,
  commonOptions,
  cpuResolutionUs,
  describeMachine,
  errorNotes,
  fixed,
  hasHttpProxy,
  hasTool,
  lbCli,
  makeCertificate,
  markdownTable,
  nodeScript,
  pairedCpuRatio,
  percent,
  pinPlan,
  positiveInt,
  repoRoot,
  runH2load,
  runLoad,
  startBackend,
  together,
  waitForPort,
  withCpu,
  writeLatestRun,
  type LoadSpec,
  type Sample,
  type Summary,
} from './lib.js';
import { grpcUnary } from './grpc.js';
import { idleConnections, routeLookup, type ScaleContext } from './scale.js';

const usage = `Usage: npm run bench [-- options]
  --duration S        seconds per measurement (whole number, default 3)
  --rounds N          alternating rounds per scenario; the median is reported (default 3)
  --connections N     connections for small, post, close and tcp-echo (default 50)
  --scenarios LIST    any of small,latency,large,post,close,tcp-echo,sni-small,sni-large,sni-close,https-small,https-close,
                      https-handshake,https-large,h2-small,h2-large,tcp-tls-small,middlewares,rate-limit,compress,weighted,idle,routes,grpc (default all)
  --only LIST         targets: direct,haproxy-http,lb-http,lb-http-access-log,lb-http-2-workers,lb-http-reuse-safe,lb-http-reuse-never,lb-http-plain,lb-http-middlewares,lb-http-rate-limit,lb-http-compress,lb-http-weighted,nginx-proxy,nginx-gzip,caddy,
                      http-proxy,node-hello,haproxy-tcp,lb-tcp,haproxy-tcp-sni,lb-tcp-sni,haproxy-https,lb-https,haproxy-tcp-tls,
                      lb-tcp-tls (idle, routes and grpc run when lb-http is listed)
  --idle N            idle connections for the idle scenario (default 10000; capped at what lb admits under ulimit -n)
  --pin               pin backend, proxies and load generator to separate cores (needs 4 cores)
  --backend KIND      auto (nginx when installed), nginx or node (bench/backend.ts)
  --load TOOL         auto (wrk when installed), wrk or autocannon
  --no-write          print the report only; do not write docs/benchmarks.md
  --doc FILE          write the report into FILE instead of docs/benchmarks.md
  --port-offset N     add N to every port the bench listens on, so that two runs on one machine do not collide (default 0)`;

/** A bad option ends the run with its message and the usage, not a stack trace. */
function option<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}

const { values: args } = option(() => parseArgs({
  options: {
    ...commonOptions,
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    scenarios: { type: 'string' },
    idle: { type: 'string', default: '10000' },
    'port-offset': { type: 'string', default: '0' },
    'no-write': { type: 'boolean', default: false },
    doc: { type: 'string', default: join(repoRoot, 'docs', 'benchmarks.md') },
    help: { type: 'boolean', short: 'h', default: false },
  },
}));
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const portOffset = option(() => {
  const offset = Number(args['port-offset']);
  if (!Number.isInteger(offset) || offset < 0 || offset > 40_000) throw new Error(`--port-offset must be a whole number from 0 to 40000, not ${args['port-offset']}`);
  return offset;
});
const ports = shiftPorts({
  backend: 18081,
  echo: 18083,
  lb: 18090,
  lbTcp: 18091,
  lbAdmin: 18092,
  haproxy: 18093,
  haproxyTcp: 18094,
  nginx: 18095,
  httpProxy: 18096,
  lbLogged: 18097,
  lbLoggedAdmin: 18098,
  lbEcho: 18099,
  haproxyEcho: 18100,
  lbWorkers: 18101,
  lbWorkersAdmin: 18102,
  lbReuse: 18103,
  lbReuseAdmin: 18104,
  nodeHello: 18105,
  tlsBackend: 18106,
  lbSni: 18107,
  lbSniAdmin: 18108,
  haproxySni: 18109,
  lbHttps: 18110,
  lbHttpsAdmin: 18111,
  haproxyHttps: 18112,
  lbTcpTls: 18113,
  lbTcpTlsAdmin: 18114,
  haproxyTcpTls: 18115,
  lbMiddlewares: 18130,
  lbMiddlewaresAdmin: 18131,
  lbRateLimit: 18132,
  lbRateLimitAdmin: 18133,
  lbCompress: 18134,
  lbCompressAdmin: 18135,
  nginxGzip: 18136,
  lbWeighted: 18137,
  lbWeightedAdmin: 18138,
  caddy: 18139,
  lbReuseNever: 18140,
  lbReuseNeverAdmin: 18141,
  lbPlain: 18142,
  lbPlainAdmin: 18143,
}, portOffset);

function shiftPorts<T extends Record<string, number>>(base: T, offset: number): T {
  return Object.fromEntries(Object.entries(base).map(([name, port]) => [name, port + offset])) as T;
}

type Need = 'haproxy' | 'nginx' | 'http-proxy' | 'openssl' | 'caddy';
interface Target {
  name: string;
  /** http: an HTTP proxy (or the backend itself); tcp: a byte pipe in front of the backend. */
  mode: 'http' | 'tcp';
  /** https: the load generator speaks TLS to the target: lb or HAProxy terminate it (plain HTTP behind), or pass it through by SNI to a backend that does. */
  scheme?: 'https';
  port: number;
  /** Where the tcp-echo scenario connects for this target. */
  echoPort?: number;
  needs?: readonly Need[];
}

const allTargets: Target[] = [
  { name: 'direct', mode: 'http', port: ports.backend, echoPort: ports.echo },
  { name: 'haproxy-http', mode: 'http', port: ports.haproxy, needs: ['haproxy'] },
  { name: 'lb-http', mode: 'http', port: ports.lb },
  { name: 'lb-http-access-log', mode: 'http', port: ports.lbLogged },
  { name: 'lb-http-2-workers', mode: 'http', port: ports.lbWorkers },
  { name: 'lb-http-reuse-safe', mode: 'http', port: ports.lbReuse },
  { name: 'lb-http-reuse-never', mode: 'http', port: ports.lbReuseNever },
  // lb-http's router alone in an lb of the same shape as the two below: what they are compared with.
  { name: 'lb-http-plain', mode: 'http', port: ports.lbPlain },
  // lb-http's router with headers, stripPrefix and ipAllowList.
  { name: 'lb-http-middlewares', mode: 'http', port: ports.lbMiddlewares },
  // lb-http's router with a rateLimit that the load never reaches.
  { name: 'lb-http-rate-limit', mode: 'http', port: ports.lbRateLimit },
  // lb-http's router with compress (gzip), against nginx's `gzip on` at level 1.
  { name: 'lb-http-compress', mode: 'http', port: ports.lbCompress },
  { name: 'nginx-gzip', mode: 'http', port: ports.nginxGzip, needs: ['nginx'] },
  { name: 'nginx-proxy', mode: 'http', port: ports.nginx, needs: ['nginx'] },
  { name: 'http-proxy', mode: 'http', port: ports.httpProxy, needs: ['http-proxy'] },
  // The Go peer, standing in for Traefik: Caddy's reverse_proxy on one OS thread (GOMAXPROCS=1).
  { name: 'caddy', mode: 'http', port: ports.caddy, needs: ['caddy'] },
  // Not a proxy: Node's own http server answering by itself, the ceiling of any proxy in Node.
  { name: 'node-hello', mode: 'http', port: ports.nodeHello },
  { name: 'haproxy-tcp', mode: 'tcp', port: ports.haproxyTcp, echoPort: ports.haproxyEcho, needs: ['haproxy'] },
  { name: 'lb-tcp', mode: 'tcp', port: ports.lbTcp, echoPort: ports.lbEcho },
  { name: 'haproxy-tcp-sni', mode: 'tcp', scheme: 'https', port: ports.haproxySni, needs: ['haproxy', 'openssl'] },
  { name: 'lb-tcp-sni', mode: 'tcp', scheme: 'https', port: ports.lbSni, needs: ['openssl'] },
  // TLS termination, with the same ECDSA P-256 certificate (made by openssl at the start).
  { name: 'haproxy-https', mode: 'http', scheme: 'https', port: ports.haproxyHttps, needs: ['haproxy', 'openssl'] },
  { name: 'lb-https', mode: 'http', scheme: 'https', port: ports.lbHttps, needs: ['openssl'] },
  // TLS terminated by a TCP frontend, plain bytes (HTTP) to the backend: the same certificate.
  { name: 'haproxy-tcp-tls', mode: 'tcp', scheme: 'https', port: ports.haproxyTcpTls, needs: ['haproxy', 'openssl'] },
  { name: 'lb-tcp-tls', mode: 'tcp', scheme: 'https', port: ports.lbTcpTls, needs: ['openssl'] },
  // A weighted service of two services, each with the backend: what choosing a service costs.
  { name: 'lb-http-weighted', mode: 'http', port: ports.lbWeighted },
];

const loadScenarios = ['small', 'latency', 'large', 'post', 'close', 'tcp-echo', 'sni-small', 'sni-large', 'sni-close', 'https-small', 'https-close', 'https-handshake', 'https-large', 'h2-small', 'h2-large', 'tcp-tls-small', 'middlewares', 'rate-limit', 'compress', 'weighted'] as const;
/** Scenarios that start their own lb (and servers): bench/scale.ts and bench/grpc.ts. */
const scaleScenarios = ['idle', 'routes', 'grpc'] as const;
type LoadScenario = (typeof loadScenarios)[number];
/**
 * lb against lb with one thing added, judged by CPU per request: their rounds run at the same
 * time (together), so that a shared machine's drift between rounds cannot pass for a cost.
 */
const costScenarios = new Set<LoadScenario>(['middlewares', 'rate-limit']);
type ScenarioId = LoadScenario | (typeof scaleScenarios)[number];
const allScenarios: readonly ScenarioId[] = [...loadScenarios, ...scaleScenarios];

/** Which targets each load scenario measures (before --only and missing tools). */
const scenarioTargets: Record<LoadScenario, string[]> = {
  small: ['direct', 'haproxy-http', 'lb-http', 'lb-http-access-log', 'lb-http-2-workers', 'nginx-proxy', 'caddy', 'http-proxy', 'node-hello', 'haproxy-tcp', 'lb-tcp'],
  latency: ['direct', 'haproxy-http', 'lb-http', 'haproxy-tcp', 'lb-tcp'],
  large: ['direct', 'haproxy-http', 'lb-http', 'lb-http-2-workers', 'haproxy-tcp', 'lb-tcp'],
  post: ['direct', 'haproxy-http', 'lb-http', 'lb-http-reuse-safe', 'lb-http-reuse-never', 'lb-http-2-workers', 'nginx-proxy', 'caddy', 'haproxy-tcp', 'lb-tcp'],
  close: ['direct', 'haproxy-http', 'lb-http', 'lb-http-2-workers', 'nginx-proxy', 'caddy', 'haproxy-tcp', 'lb-tcp'],
  'tcp-echo': ['direct', 'haproxy-tcp', 'lb-tcp'],
  'sni-small': ['haproxy-tcp-sni', 'lb-tcp-sni'],
  'sni-large': ['haproxy-tcp-sni', 'lb-tcp-sni'],
  'sni-close': ['haproxy-tcp-sni', 'lb-tcp-sni'],
  'https-small': ['haproxy-https', 'lb-https'],
  'https-close': ['haproxy-https', 'lb-https'],
  'https-handshake': ['haproxy-https', 'lb-https'],
  'https-large': ['haproxy-https', 'lb-https'],
  'h2-small': ['haproxy-https', 'lb-https'],
  'h2-large': ['haproxy-https', 'lb-https'],
  'tcp-tls-small': ['haproxy-tcp-tls', 'lb-tcp-tls'],
  middlewares: ['lb-http-plain', 'lb-http', 'lb-http-middlewares'],
  'rate-limit': ['lb-http-plain', 'lb-http', 'lb-http-rate-limit'],
  compress: ['lb-http-compress', 'nginx-gzip'],
  weighted: ['lb-http', 'lb-http-weighted'],
};

/** The name the TLS clients send as SNI: wrk sends the URL's host, an IP address here, as it is. */
const sniName = '127.0.0.1';

function list(text: string | undefined, valid: readonly string[], option: string): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = items.filter((s) => !valid.includes(s));
  if (unknown.length) throw new Error(`--${option}: unknown ${unknown.join(', ')} (valid: ${valid.join(', ')})`);
  return items;
}

const duration = option(() => positiveInt('duration', args.duration));
const rounds = option(() => positiveInt('rounds', args.rounds));
/**
 * Rounds of a cost scenario: at least 9, whatever --rounds says. Unpinned on 2 cores, three
 * rounds put the same pair anywhere between 1.0 and 1.2 (docs/benchmarks.md, 2026-12-04), more
 * than the ≤ 1.1 they are read against; nine cost 18 s more per scenario at the default duration.
 */
const costRounds = Math.max(rounds, 9);
const connections = option(() => positiveInt('connections', args.connections));
const idleCount = option(() => positiveInt('idle', args.idle));
const only = option(() => list(args.only, allTargets.map((t) => t.name), 'only'));
const scenarios = option(() => (list(args.scenarios, allScenarios, 'scenarios') ?? allScenarios) as ScenarioId[]);
const postBytes = 64 * 1024;

const ws = benchWorkspace('lb-bench-');
const { work } = ws;

// ---------------------------------------------------------------------------------------------
// Configuration of the proxies under test.

/** The certificate both https targets serve (ECDSA P-256, made now); HAProxy takes it with its key in one file. */
interface HttpsFiles {
  cert: string;
  key: string;
  haproxy: string;
}

function makeHttpsCertificate(): HttpsFiles {
  const { certFile, keyFile } = makeCertificate(ws, 'localhost');
  const haproxy = join(work, 'localhost-haproxy.pem');
  writeFileSync(haproxy, readFileSync(certFile, 'utf8') + readFileSync(keyFile, 'utf8'));
  return { cert: certFile, key: keyFile, haproxy };
}

/** nginx as a keep-alive reverse proxy to the backend, one worker, on `port`; `server` and `location` add to those blocks. */
function nginxProxyConf(name: string, port: number, server: string, location: string): void {
  writeFileSync(join(work, `${name}-nginx.conf`), `
worker_processes 1; daemon off; pid ${work}/${name}.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 16m;
  upstream app { server 127.0.0.1:${ports.backend}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} backlog=4096;${server}
    location / {
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";${location}
    }
  }
}`);
}

function writeConfigs(withEcho: boolean, withSni: boolean, tlsFiles: HttpsFiles | undefined): void {
  // Caddy as a keep-alive reverse proxy (its default), with no admin API, no automatic HTTPS, no logs.
  writeFileSync(join(work, 'Caddyfile'), `{
\tadmin off
\tauto_https off
\tlog {
\t\toutput discard
\t}
}

http://127.0.0.1:${ports.caddy} {
\treverse_proxy 127.0.0.1:${ports.backend}
}
`);
  nginxProxyConf('proxy', ports.nginx, '', `
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_request_buffering off;`);
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
${tlsFiles ? `frontend webtls
  mode http
  bind 127.0.0.1:${ports.haproxyHttps} ssl crt ${tlsFiles.haproxy} alpn h2,http/1.1
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  default_backend app
frontend tcptls
  mode tcp
  bind 127.0.0.1:${ports.haproxyTcpTls} ssl crt ${tlsFiles.haproxy}
  default_backend apptcp
` : ''}${withEcho ? `frontend echo
  mode tcp
  bind 127.0.0.1:${ports.haproxyEcho}
  default_backend echo
backend echo
  mode tcp
  server s1 127.0.0.1:${ports.echo}
` : ''}${withSni ? `frontend sni
  mode tcp
  bind 127.0.0.1:${ports.haproxySni}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend tls if { req.ssl_sni -i ${sniName} }
  default_backend tls
backend tls
  mode tcp
  server s1 127.0.0.1:${ports.tlsBackend}
` : ''}`);
  writeFileSync(join(work, 'lb.yaml'), `
entrypoints:
  web: { address: "127.0.0.1:${ports.lb}" }
  tcp: { address: "127.0.0.1:${ports.lbTcp}", protocol: tcp }
${withEcho ? `  echo: { address: "127.0.0.1:${ports.lbEcho}", protocol: tcp }\n` : ''}admin: { address: "127.0.0.1:${ports.lbAdmin}" }
routers:
  app: { entrypoint: web, match: { host: "127.0.0.1" }, service: app }
  tcp: { entrypoint: tcp, service: tcp }
${withEcho ? '  echo: { entrypoint: echo, service: echo }\n' : ''}services:
  app: { servers: [ { url: "http://127.0.0.1:${ports.backend}" } ] }
  tcp: { servers: [ { address: "127.0.0.1:${ports.backend}" } ] }
${withEcho ? `  echo: { servers: [ { address: "127.0.0.1:${ports.echo}" } ] }\n` : ''}log: { level: error }
`);
  // Variants of the HTTP lb, one setting each, to measure what it costs or buys:
  // access logs on; two data-plane workers; POSTs after a client connection's first on pooled
  // connections (unsafeReuse: safe, HAProxy's default http-reuse; the bench's HAProxy runs with
  // http-reuse always, which wrk's keep-alive POSTs cannot tell from safe); every POST on a
  // connection of its own (unsafeReuse: never).
  const variant = (file: string, port: number, adminPort: number, top: string, service: string, router = '') =>
    writeFileSync(join(work, file), `${top}
entrypoints: { web: { address: "127.0.0.1:${port}" } }
admin: { address: "127.0.0.1:${adminPort}" }
routers: { app: { entrypoint: web, match: { host: "127.0.0.1" }, ${router}service: app } }
services: { app: { ${service}servers: [ { url: "http://127.0.0.1:${ports.backend}" } ] } }
log: { level: error }
`);
  variant('lb-logged.yaml', ports.lbLogged, ports.lbLoggedAdmin, `accessLog: { enabled: true, path: "${join(work, 'access.log')}" }`, '');
  variant('lb-workers.yaml', ports.lbWorkers, ports.lbWorkersAdmin, 'workers: 2', '');
  variant('lb-reuse.yaml', ports.lbReuse, ports.lbReuseAdmin, '', 'unsafeReuse: safe, ');
  variant('lb-reuse-never.yaml', ports.lbReuseNever, ports.lbReuseNeverAdmin, '', 'unsafeReuse: never, ');
  variant('lb-plain.yaml', ports.lbPlain, ports.lbPlainAdmin, '', '');
  variant('lb-middlewares.yaml', ports.lbMiddlewares, ports.lbMiddlewaresAdmin, `middlewares:
  tag: { headers: { customRequestHeaders: { X-Env: bench }, customResponseHeaders: { X-Frame-Options: DENY } } }
  strip: { stripPrefix: { prefixes: [/api] } }
  local: { ipAllowList: { sourceRange: [127.0.0.0/8] } }`, '', 'middlewares: [local, strip, tag], ');
  variant('lb-compress.yaml', ports.lbCompress, ports.lbCompressAdmin, `middlewares:
  squeeze: { compress: { encodings: [gzip] } }`, '', 'middlewares: [squeeze], ');
  // nginx as a compressing proxy: gzip at level 1 (its default gzip_comp_level), on proxied JSON.
  nginxProxyConf('gzip', ports.nginxGzip, `
    gzip on; gzip_comp_level 1; gzip_proxied any; gzip_types application/json; gzip_min_length 1024;`, '');
  variant('lb-rate-limit.yaml', ports.lbRateLimit, ports.lbRateLimitAdmin, `middlewares:
  limit: { rateLimit: { average: 1000000000, period: 1s, burst: 1000000000 } }`, '', 'middlewares: [limit], ');
  writeFileSync(join(work, 'lb-weighted.yaml'), `
entrypoints: { web: { address: "127.0.0.1:${ports.lbWeighted}" } }
admin: { address: "127.0.0.1:${ports.lbWeightedAdmin}" }
routers: { app: { entrypoint: web, match: { host: "127.0.0.1" }, service: app } }
services:
  app: { weighted: { services: [ { name: app-v1, weight: 95 }, { name: app-v2, weight: 5 } ] } }
  app-v1: { servers: [ { url: "http://127.0.0.1:${ports.backend}" } ] }
  app-v2: { servers: [ { url: "http://127.0.0.1:${ports.backend}" } ] }
log: { level: error }
`);
  // As HAProxy's frontend above: the named server, and the same one for a ClientHello without it
  // (Node clients send no SNI for an IP address), so that every connection's ClientHello is read.
  writeFileSync(join(work, 'lb-sni.yaml'), `
entrypoints: { tls: { address: "127.0.0.1:${ports.lbSni}", protocol: tcp } }
admin: { address: "127.0.0.1:${ports.lbSniAdmin}" }
routers:
  named: { entrypoint: tls, match: { sni: ["${sniName}"] }, service: tls }
  other: { entrypoint: tls, service: tls }
services: { tls: { servers: [ { address: "127.0.0.1:${ports.tlsBackend}" } ] } }
log: { level: error }
`);
  if (tlsFiles) {
    // The same certificate on an https entrypoint, and on a tcp one whose only router terminates
    // (as HAProxy's tcptls frontend: nothing is read before the handshake).
    const tlsYaml = (file: string, port: number, adminPort: number, protocol: string, router: string, server: string) => writeFileSync(join(work, file), `
entrypoints:
  tls:
    address: "127.0.0.1:${port}"
    protocol: ${protocol}
    tls: { certificates: [ { certFile: "${tlsFiles.cert}", keyFile: "${tlsFiles.key}" } ] }
admin: { address: "127.0.0.1:${adminPort}" }
routers: { app: { entrypoint: tls, ${router}service: app } }
services: { app: { servers: [ { ${server} } ] } }
log: { level: error }
`);
    tlsYaml('lb-https.yaml', ports.lbHttps, ports.lbHttpsAdmin, 'https', 'match: { host: "127.0.0.1" }, ', `url: "http://127.0.0.1:${ports.backend}"`);
    tlsYaml('lb-tcp-tls.yaml', ports.lbTcpTls, ports.lbTcpTlsAdmin, 'tcp', 'tls: terminate, ', `address: "127.0.0.1:${ports.backend}"`);
  }
  writeFileSync(join(work, 'http-proxy.cjs'), `
const http = require('node:http');
const httpProxy = require(${JSON.stringify(join(repoRoot, 'node_modules', 'http-proxy'))});
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: 'http://127.0.0.1:${ports.backend}', agent, xfwd: true });
proxy.on('error', (err, req, res) => { res.writeHead(502); res.end(); });
http.createServer((req, res) => proxy.web(req, res)).listen(${ports.httpProxy}, '127.0.0.1');
`);
}

// ---------------------------------------------------------------------------------------------
// Measurements.

const loadTool = option(() => chooseLoadTool(args.load));
const loadName = loadTool === 'wrk' ? 'wrk -t1' : 'autocannon';

function http(target: Target, spec: Omit<LoadSpec, 'url' | 'seconds'> & { path?: string }, seconds = duration): Promise<Sample> {
  return runLoad(ws, loadTool, { ...spec, url: `${target.scheme ?? 'http'}://127.0.0.1:${target.port}${spec.path ?? '/'}`, seconds });
}

async function echo(target: Target, seconds = duration): Promise<Sample> {
  const [cmd, argv] = nodeScript('./echo-client.ts', ['--port', String(target.echoPort), '--connections', String(connections), '--seconds', String(seconds), '--size', '64']);
  const out = await ws.run(cmd, argv, { timeoutMs: (seconds + 30) * 1000, role: 'load' });
  const line = out.stdout.trim().split('\n').pop() ?? '';
  let json: { roundTrips: number; rps: number; p50ms: number; p99ms: number; errors: number };
  try {
    json = JSON.parse(line) as typeof json;
  } catch {
    throw new Error(`echo-client failed on ${target.name}: ${out.stderr.trim() || out.stdout.trim()}`);
  }
  return { rps: json.rps, p50ms: json.p50ms, p99ms: json.p99ms, bytesPerSec: json.rps * 64, requests: json.roundTrips, errors: json.errors ? [`${json.errors} connection errors`] : [] };
}

const measures: Record<LoadScenario, (t: Target) => Promise<Sample>> = {
  small: (t) => http(t, { connections }),
  latency: (t) => http(t, { connections: 1 }),
  large: (t) => http(t, { connections: 8, path: '/1m' }),
  post: (t) => http(t, { connections, postBytes }),
  close: (t) => http(t, { connections, headers: { Connection: 'close' } }),
  'tcp-echo': (t) => echo(t),
  'sni-small': (t) => http(t, { connections }),
  'sni-large': (t) => http(t, { connections: 8, path: '/1m' }),
  'sni-close': (t) => http(t, { connections, headers: { Connection: 'close' } }),
  'https-small': (t) => http(t, { connections }),
  'https-close': (t) => http(t, { connections, headers: { Connection: 'close' } }),
  // wrk resumes TLS sessions on reconnect; autocannon (Node's TLS client, no session given) does not.
  'https-handshake': (t) => runLoad(ws, 'autocannon', { connections, headers: { Connection: 'close' }, url: `https://127.0.0.1:${t.port}/`, seconds: duration }),
  'https-large': (t) => http(t, { connections: 8, path: '/1m' }),
  'h2-small': (t) => runH2load(ws, { url: `https://127.0.0.1:${t.port}/`, connections: 50, streams: 10, seconds: duration }),
  'h2-large': (t) => runH2load(ws, { url: `https://127.0.0.1:${t.port}/1m`, connections: 8, streams: 2, seconds: duration }),
  'tcp-tls-small': (t) => http(t, { connections }),
  // The same request to both: lb-http forwards /api/ as it is, the other strips it to /.
  middlewares: (t) => http(t, { connections, path: '/api/' }),
  'rate-limit': (t) => http(t, { connections }),
  compress: (t) => http(t, { connections: 8, path: '/json', headers: { 'Accept-Encoding': 'gzip' } }),
  weighted: (t) => http(t, { connections }),
};

// ---------------------------------------------------------------------------------------------
// Tables.

interface Column {
  header: string;
  cell: (r: Summary) => string;
}

/** The CPU figure of a target, naming its processes when there are several (all are counted). */
function cpuCell(r: Summary): string {
  if (!Number.isFinite(r.cpuUsPerRequest)) return '-';
  const others = r.processes.length - 1;
  const who =
    others < 1 ? ''
    : r.name.startsWith('lb-') ? ` (primary + ${others} worker${others > 1 ? 's' : ''})`
    : r.name === 'nginx-proxy' ? ` (master + ${others} worker${others > 1 ? 's' : ''})`
    : ` (${r.processes.join(' + ')})`;
  return `${fixed(r.cpuUsPerRequest, 1)}${who}`;
}

function throughputTable(results: Summary[], o: { unit: string; value: (r: Summary) => number; digits: number; reference: string; extra?: Column[] }): string {
  const byName = new Map(results.map((r) => [r.name, r]));
  const direct = byName.get('direct');
  const rows = results.map((r) => {
    const peer = byName.get(r.name.endsWith('-tcp') ? 'haproxy-tcp' : r.name.endsWith('-sni') ? 'haproxy-tcp-sni' : o.reference);
    const value = o.value(r);
    return [
      r.name,
      fixed(value, o.digits),
      ...(o.extra ?? []).map((c) => c.cell(r)),
      fixed(r.p50ms, 3),
      fixed(r.p99ms, 3),
      peer ? fixed(value / o.value(peer), 2) : '-',
      direct ? fixed(value / o.value(direct), 2) : '-',
      cpuCell(r),
      peer ? fixed(peer.cpuUsPerRequest / r.cpuUsPerRequest, 2) : '-',
      percent(r.spread),
    ];
  });
  const header = ['target', o.unit, ...(o.extra ?? []).map((c) => c.header), 'p50 ms', 'p99 ms', '× HAProxy (same mode)', '× direct', 'CPU µs/req', 'CPU × HAProxy', 'spread over rounds'];
  const resolution = cpuResolutionUs(results);
  const cpuNote = Number.isFinite(resolution)
    ? `Resolution of CPU µs/req in this table: ±${fixed(resolution, 2)} µs (one clock tick over the fewest requests of a round).`
    : 'CPU µs/req: not measured (it reads /proc: Linux only).';
  return `${markdownTable(header, rows)}\n\n${cpuNote}`;
}

function latencyTable(results: Summary[]): string {
  const direct = results.find((r) => r.name === 'direct');
  const mean = (r: Summary): number => 1000 / r.rps;
  const rows = results.map((r) => [
    r.name,
    fixed(r.p50ms, 3),
    fixed(r.p99ms, 3),
    direct ? `${fixed(r.p50ms - direct.p50ms, 3)} ms` : '-',
    fixed(mean(r), 3),
    direct ? `${fixed(mean(r) - mean(direct), 3)} ms` : '-',
    percent(r.spread),
  ]);
  return markdownTable(['target', 'p50 ms', 'p99 ms', 'p50 added over direct', 'mean ms (1 ÷ req/s)', 'mean added over direct', 'spread over rounds'], rows);
}

const rounding = `${rounds} round${rounds > 1 ? 's' : ''} × ${duration}s, median`;
const togetherRounding = `${costRounds} rounds × ${duration}s with the targets loaded at the same time, median`;
const titles: Record<LoadScenario, string> = {
  small: `Small responses: GET, 12-byte body, keep-alive, ${loadName} -c${connections}, ${rounding}`,
  latency: `Added latency at one connection: ${loadName} -c1, ${rounding}`,
  large: `Large responses: 1 MiB body, ${loadName} -c8, ${rounding}`,
  post: `POST with a 64 KiB body: ${loadName} -c${connections}, ${rounding}`,
  close: `New connection per request (Connection: close): ${loadName} -c${connections}, ${rounding}`,
  'tcp-echo': `TCP echo: 64-byte round trips, bench/echo-client.ts -c${connections}, ${rounding}`,
  'sni-small': `TLS passthrough routed by SNI, small responses over keep-alive TLS: ${loadName} -c${connections}, ${rounding}`,
  'sni-large': `TLS passthrough routed by SNI, 1 MiB responses: ${loadName} -c8, ${rounding}`,
  'sni-close': `TLS passthrough routed by SNI, a new TLS connection per request: ${loadName} -c${connections}, ${rounding}`,
  'https-small': `HTTPS, small responses: GET, 12-byte body, keep-alive, ${loadName} -c${connections}, ${rounding}`,
  'https-close': `HTTPS, a new TLS connection per request, resumed (Connection: close): ${loadName} -c${connections}, ${rounding}`,
  'https-handshake': `HTTPS, a full TLS handshake per request (Connection: close, no resumption): autocannon -c${connections}, ${rounding}`,
  'https-large': `HTTPS, large responses: 1 MiB body, ${loadName} -c8, ${rounding}`,
  'h2-small': `HTTP/2 over TLS, small responses: GET, 12-byte body, h2load -c50 -m10 (10 streams on each of 50 connections), ${rounding}`,
  'h2-large': `HTTP/2 over TLS, large responses: 1 MiB body, h2load -c8 -m2 (2 streams on each of 8 connections), ${rounding}`,
  'tcp-tls-small': `TLS terminated on a TCP entrypoint (tls: terminate), small responses over keep-alive TLS: ${loadName} -c${connections}, ${rounding}`,
  middlewares: `A router with middlewares (ipAllowList, stripPrefix, headers) against the same router without: ${loadName} -c${connections} each, ${togetherRounding}`,
  compress: `gzip of a 100 KiB JSON response, lb's compress against nginx's gzip on (level 1): ${loadName} -c8, ${rounding}`,
  'rate-limit': `A router with a rateLimit its load never reaches against the same router without: ${loadName} -c${connections} each, ${togetherRounding}`,
  weighted: `A weighted service (95/5 between two services) against a plain one: GET, 12-byte body, keep-alive, ${loadName} -c${connections}, ${rounding}`,
};

function render(scenario: LoadScenario, results: Summary[]): string {
  const mbps = (r: Summary): number => r.bytesPerSec / 1024 ** 2;
  switch (scenario) {
    case 'small':
    case 'weighted':
    case 'close':
    case 'sni-small':
    case 'sni-close':
      return throughputTable(results, { unit: 'req/s', value: (r) => r.rps, digits: 0, reference: 'haproxy-http' });
    case 'https-small':
    case 'h2-small':
    case 'https-close':
    case 'https-handshake':
      return throughputTable(results, { unit: 'req/s', value: (r) => r.rps, digits: 0, reference: 'haproxy-https' });
    case 'https-large':
    case 'h2-large':
      return throughputTable(results, { unit: 'MB/s', value: mbps, digits: 0, reference: 'haproxy-https' });
    case 'tcp-tls-small':
      return throughputTable(results, { unit: 'req/s', value: (r) => r.rps, digits: 0, reference: 'haproxy-tcp-tls' });
    case 'latency':
      return latencyTable(results);
    case 'large':
    case 'sni-large':
      return throughputTable(results, { unit: 'MB/s', value: mbps, digits: 0, reference: 'haproxy-http' });
    case 'post':
      return throughputTable(results, {
        unit: 'req/s',
        value: (r) => r.rps,
        digits: 0,
        reference: 'haproxy-http',
        extra: [{ header: 'MB/s up', cell: (r) => fixed((r.rps * postBytes) / 1024 ** 2, 0) }],
      });
    case 'tcp-echo':
      return throughputTable(results, { unit: 'round trips/s', value: (r) => r.rps, digits: 0, reference: 'haproxy-tcp' });
    case 'middlewares':
    case 'rate-limit':
      return costTable(results, 'lb-http-plain');
    case 'compress':
      return compressTable(results);
  }
}

/** Compression: the JSON compressed per second, the bytes sent for it (head included) and the ratio. */
function compressTable(results: Summary[]): string {
  const json = apiJson().length;
  const rows = results.map((r) => {
    const sent = r.bytesPerSec / r.rps;
    return [r.name, fixed(r.rps, 0), fixed((r.rps * json) / 1024 ** 2, 1), fixed(sent, 0), fixed(json / sent, 2), cpuCell(r), percent(r.spread)];
  });
  return markdownTable(['target', 'responses/s', 'JSON compressed MiB/s', 'bytes sent per response', 'ratio', 'CPU µs/req', 'spread over rounds'], rows);
}

/** What a feature costs: each target's req/s and CPU per request beside the same lb without it. */
function costTable(results: Summary[], without: string): string {
  const base = results.find((r) => r.name === without);
  const rows = results.map((r) => [
    r.name,
    fixed(r.rps, 0),
    fixed(r.p99ms, 3),
    cpuCell(r),
    base ? fixed(r.cpuUsPerRequest / base.cpuUsPerRequest, 2) : '-',
    base ? fixed(pairedCpuRatio(r, base), 2) : '-',
    percent(r.spread),
  ]);
  return markdownTable(['target', 'req/s', 'p99 ms', 'CPU µs/req', `CPU × ${without}`, 'the same, paired by round', 'spread over rounds'], rows);
}

const notes: Record<LoadScenario, string> = {
  small: 'Per-request overhead of each proxy: parsing, routing, forwarding on pooled keep-alive connections.',
  latency: 'One request at a time: what each hop adds to a request. The mean is 1 ÷ req/s, which has sub-millisecond resolution with either load generator.',
  large: 'Body copying: bytes per second through each proxy; lb reads into reused buffers and writes each chunk on at once.',
  post: 'Request bodies streamed upstream: 64 KiB per request, MB/s up is req/s × 64 KiB.',
  close: 'Accept and close cost: every request opens a new client connection (the proxies keep their upstream connections; the tcp ones cannot).',
  'tcp-echo': 'L4 forwarding of small messages both ways, compared with the echo server reached directly.',
  'sni-small': 'The ClientHello read (not terminated) to choose the server by SNI, then L4 forwarding; the backend terminates TLS. Against HAProxy `mode tcp` with `req.ssl_sni`.',
  'sni-large': 'Body copying through a TLS passthrough tunnel.',
  'sni-close': 'Per connection: accept, buffer and parse the ClientHello, connect, forward; the full TLS handshake is between the load generator and the backend.',
  'https-small': 'TLS termination on keep-alive connections: the cost of encrypting and decrypting small requests, over the HTTP work.',
  'https-close': 'A new TLS connection per request, as a returning client makes them: wrk resumes its session with the ticket each proxy gave it (an abbreviated handshake: a key exchange, no certificate and no signature).',
  'https-handshake': 'A full TLS handshake per request: key exchange, certificate and an ECDSA P-256 signature each time. The load generator is autocannon (Node), whose handshakes cost the client as much, so on a small machine it is the bottleneck: read CPU µs/req.',
  'https-large': 'Bulk encryption: 1 MiB responses through TLS (AES-GCM, as negotiated by wrk and each proxy).',
  weighted: 'What a weighted service adds per request (the choice of a service by smooth weighted round-robin, then its balancer): compare CPU µs/req of lb-http-weighted with lb-http.',
  'h2-small': 'HTTP/2 clients (ALPN h2, the same certificate), HTTP/1.1 to the same backend: each stream is a request that lb checks, translates and sends on a keep-alive connection. h2load gives no latency percentiles.',
  'h2-large': 'Bulk transfer to HTTP/2 clients: 1 MiB responses framed as DATA within the streams\' flow-control windows, through TLS; HTTP/1.1 to the same backend.',
  'tcp-tls-small': 'TLS termination at L4: decrypt, relay the plain bytes to the backend and encrypt its answers, with no HTTP work. Against HAProxy `mode tcp` with `bind ... ssl crt`.',
  compress: 'Streaming compression on the fast path: lb through zlib, nginx, both at gzip level 1; the ratio is the JSON size over the bytes sent per response (its head included).',
  'rate-limit': 'The cost of a rateLimit on a path that is not limited: the source found (the client address) and a token taken from its bucket, per request. Target: CPU × lb-http-plain ≤ 1.1. lb-http-plain is the same router alone, in an lb configured as the other; lb-http, the same router again in the main lb of the bench, shows what a ratio of 1 looks like in this run (the noise of the method).',
  middlewares: 'The cost of a middleware chain on the fast path: the client address judged, the path rewritten and headers set on the request, a header set on the response (the lines of the head copied with the edit). Target: CPU × lb-http-plain ≤ 1.1. lb-http-plain is the same router alone, in an lb configured as the other; lb-http, the same router again in the main lb of the bench, shows what a ratio of 1 looks like in this run (the noise of the method).',
};

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(lbCli)) throw new Error(`${lbCli} is missing: run npm run build first (npm run bench does)`);
  const plan = pinPlan(args.pin);
  ws.setPinning(plan.pinning);
  const backendKind = chooseBackend(args.backend);
  const missing = (needs: readonly Need[] = []): Need | undefined => needs.find((need) => !(need === 'http-proxy' ? hasHttpProxy() : hasTool(need)));
  const installNote: Record<Need, string> = {
    haproxy: 'haproxy is not installed (apt-get install -y haproxy)',
    nginx: 'nginx is not installed (apt-get install -y nginx-light)',
    'http-proxy': 'the http-proxy package is not installed (npm install)',
    openssl: 'openssl is not installed (apt-get install -y openssl)',
    caddy: 'caddy is not installed (apt-get install -y caddy)',
  };

  const selectedLoad = scenarios.filter((s): s is LoadScenario => (loadScenarios as readonly string[]).includes(s));
  const skipped = new Map<string, string>();
  const targetsOf = (scenario: LoadScenario): Target[] =>
    scenarioTargets[scenario]
      .map((name) => allTargets.find((t) => t.name === name)!)
      .filter((t) => {
        if (only && !only.includes(t.name)) return false;
        const need = missing(t.needs);
        if (need) skipped.set(t.name, installNote[need]);
        return need === undefined;
      });
  const wanted = new Set(selectedLoad.flatMap((s) => targetsOf(s).map((t) => t.name)));
  const runScale = scenarios.filter((s) => (scaleScenarios as readonly string[]).includes(s) && (!only || only.includes('lb-http')));
  const preface: string[] = [];
  for (const [name, why] of skipped) preface.push(`Skipped ${name}: ${why}.`);
  for (const s of scenarios) if ((scaleScenarios as readonly string[]).includes(s) && !runScale.includes(s)) preface.push(`Skipped scenario ${s}: it measures lb-http, which --only leaves out.`);

  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const header = describeMachine([
    `Command: \`${command}\``,
    `Backend: ${backendKind === 'nginx' ? 'nginx, 1 worker' : 'bench/backend.ts (Node)'}; load generator: ${loadName}; pinning: ${plan.note}`,
    `Targets measured in alternating rounds (${rounds} × ${duration}s); each figure is the median over the rounds. Compare ratios within one run, not absolute numbers across runs.`,
    `CPU µs/req: utime + stime of the target's processes (/proc/<pid>/stat, with their children: nginx-proxy's master and worker, lb-http-2-workers' primary and workers) from before to after each round, ÷ the requests the load generator counted; \`-\` for direct, which has no proxy. Less bound than req/s to the share of a core a target wins on a shared machine, but not free of it. Counted in clock ticks of ${fixed(1000 / clockTicks(), 0)} ms, so a round is off by up to one tick: ±${fixed(1000 / clockTicks() / 150, 2)} µs/req at 50k req/s over 3 s; each table gives its own. CPU × HAProxy: HAProxy's µs/req (same mode) ÷ the target's; above 1, the target uses less CPU per request than HAProxy.`,
    ...(loadTool === 'autocannon'
      ? ['autocannon records latencies in whole milliseconds (sub-millisecond ones read 0) and, with Connection: close, counts its reconnect waits in them: read req/s and the mean column rather than p50/p99.']
      : []),
    ...preface,
  ]);
  console.log(`${header}\n`);

  const loadSeconds =
    selectedLoad.reduce((sum, s) => sum + (costScenarios.has(s) ? costRounds : targetsOf(s).length * rounds) * duration, 0) + (runScale.includes('routes') ? 2 * rounds * duration : 0) + (runScale.includes('grpc') ? 3 * rounds * duration : 0);
  console.log(`About ${loadSeconds}s of load, plus warm-ups.\n`);

  // Start what the selected scenarios need.
  const withEcho = selectedLoad.includes('tcp-echo') && [...wanted].some((n) => allTargets.find((t) => t.name === n)!.echoPort);
  const withSni = wanted.has('lb-tcp-sni') || wanted.has('haproxy-tcp-sni');
  const withTls = ['lb-https', 'haproxy-https', 'lb-tcp-tls', 'haproxy-tcp-tls'].some((name) => wanted.has(name));
  writeConfigs(withEcho, withSni, withTls ? makeHttpsCertificate() : undefined);
  await startBackend(ws, backendKind, ports.backend);
  if (withSni) await startBackend(ws, backendKind, ports.tlsBackend, makeCertificate(ws, 'bench.example.com'));
  if (withEcho) {
    const [cmd, argv] = nodeScript('./echo-server.ts', ['--port', String(ports.echo)]);
    await ws.startListening(cmd, argv, ports.echo, 'backend');
  }
  // The process of each target but direct, whose process tree's CPU time withCpu reads.
  const pids = new Map<string, number>();
  const starting: Array<Promise<unknown>> = [];
  const startProxy = (names: string[], [cmd, argv]: [string, string[]], port: number): void => {
    if (!names.some((n) => wanted.has(n))) return;
    starting.push(ws.startListening(cmd, argv, port, 'proxy').then((child) => names.forEach((n) => pids.set(n, child.pid!))));
  };
  const lb = (file: string): [string, string[]] => [process.execPath, [lbCli, 'run', '--config', join(work, file)]];
  startProxy(['haproxy-http', 'haproxy-tcp', 'haproxy-tcp-sni', 'haproxy-https', 'haproxy-tcp-tls'], ['haproxy', ['-f', join(work, 'haproxy.cfg')]], ports.haproxy);
  startProxy(['lb-http', 'lb-tcp'], lb('lb.yaml'), ports.lb);
  startProxy(['lb-http-access-log'], lb('lb-logged.yaml'), ports.lbLogged);
  startProxy(['lb-http-reuse-safe'], lb('lb-reuse.yaml'), ports.lbReuse);
  startProxy(['lb-http-reuse-never'], lb('lb-reuse-never.yaml'), ports.lbReuseNever);
  startProxy(['lb-http-plain'], lb('lb-plain.yaml'), ports.lbPlain);
  startProxy(['lb-http-middlewares'], lb('lb-middlewares.yaml'), ports.lbMiddlewares);
  startProxy(['lb-http-rate-limit'], lb('lb-rate-limit.yaml'), ports.lbRateLimit);
  startProxy(['lb-http-compress'], lb('lb-compress.yaml'), ports.lbCompress);
  startProxy(['nginx-gzip'], ['nginx', ['-c', join(work, 'gzip-nginx.conf'), '-p', work]], ports.nginxGzip);
  startProxy(['lb-http-weighted'], lb('lb-weighted.yaml'), ports.lbWeighted);
  startProxy(['lb-http-2-workers'], lb('lb-workers.yaml'), ports.lbWorkers);
  startProxy(['lb-tcp-sni'], lb('lb-sni.yaml'), ports.lbSni);
  startProxy(['lb-https'], lb('lb-https.yaml'), ports.lbHttps);
  startProxy(['lb-tcp-tls'], lb('lb-tcp-tls.yaml'), ports.lbTcpTls);
  startProxy(['nginx-proxy'], ['nginx', ['-c', join(work, 'proxy-nginx.conf'), '-p', work]], ports.nginx);
  startProxy(['http-proxy'], [process.execPath, [join(work, 'http-proxy.cjs')]], ports.httpProxy);
  // env execs caddy, so that the pid whose CPU is read is Caddy's own.
  startProxy(['caddy'], ['env', ['GOMAXPROCS=1', `XDG_DATA_HOME=${work}`, `XDG_CONFIG_HOME=${work}`, 'caddy', 'run', '--adapter', 'caddyfile', '--config', join(work, 'Caddyfile')]], ports.caddy);
  // On the proxies' cores when pinned: it stands where a proxy would.
  startProxy(['node-hello'], nodeScript('./backend.ts', ['--port', String(ports.nodeHello)]), ports.nodeHello);
  await Promise.all(starting);
  for (const t of allTargets) if (wanted.has(t.name)) await waitPorts(t, withEcho);

  // Warm-up: one second each, so that lb's JIT and every pool are warm before the first round.
  for (const t of allTargets) {
    if (!wanted.has(t.name)) continue;
    await http(t, { connections: 10 }, 1);
    if (withEcho && t.echoPort && targetsOf('tcp-echo').includes(t)) await echo(t, 1);
  }

  const sections: string[] = [];
  let failed = false;
  const emit = (markdown: string): void => {
    sections.push(markdown.trim());
    console.log(`${markdown.trim()}\n`);
  };
  for (const scenario of scenarios) {
    try {
      if (scenario === 'grpc') {
        if (!runScale.includes(scenario)) continue;
        const grpcPorts = { server: 18198 + portOffset, lb: 18199 + portOffset, lbAdmin: 18200 + portOffset, haproxy: 18201 + portOffset };
        emit((await grpcUnary({ ws, ports: grpcPorts, duration, rounds })).markdown);
        continue;
      }
      if (scenario === 'idle' || scenario === 'routes') {
        if (!runScale.includes(scenario)) continue;
        const ctx: ScaleContext = { ws, load: loadTool, backendPort: ports.backend, duration, rounds, connections };
        const { markdown } = scenario === 'routes' ? await routeLookup(ctx, 18190 + portOffset) : await idleConnections(ctx, 18194 + portOffset, idleCount);
        emit(`${markdown}\n${scenario === 'routes' ? 'Route lookup cost: lb with 10,000 host routes against lb with 10, same request.' : 'Memory per idle client connection in lb (each connection has made one request): HTTP/1.1 keep-alive, and HTTP/2 in cleartext (a Node http2 session, with nghttp2\'s state, per connection), each in an lb of its own.'}`);
        continue;
      }
      const targets = targetsOf(scenario);
      if (targets.length === 0) {
        emit(`### ${titles[scenario]}\n\nNo target left to measure.`);
        continue;
      }
      const run = costScenarios.has(scenario) ? together : alternate;
      const results = await run(targets, costScenarios.has(scenario) ? costRounds : rounds, (t) => withCpu(pids.get(t.name), () => measures[scenario](t)));
      emit(`### ${titles[scenario]}\n\n${render(scenario, results)}\n\n${notes[scenario]}\n${errorNotes(results)}`);
    } catch (err) {
      failed = true;
      emit(`### ${scenario}\n\nFailed: ${(err as Error).message}`);
    }
  }

  const report = `${header}\n\n${sections.join('\n\n')}\n`;
  if (failed) {
    console.error(`some scenarios failed; ${args['no-write'] ? 'nothing written' : `${args.doc} left as it was`}`);
    process.exitCode = 1;
    return;
  }
  if (!args['no-write']) {
    writeLatestRun(args.doc, report);
    const shown = relative(repoRoot, args.doc);
    console.log(`wrote the report into ${shown.startsWith('..') ? args.doc : shown}`);
  }
}

async function waitPorts(t: Target, withEcho: boolean): Promise<void> {
  await waitForPort(t.port);
  if (withEcho && t.echoPort) await waitForPort(t.echoPort);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
