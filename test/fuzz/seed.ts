// Each fuzz target's seed inputs, taken from the existing tests' generators and cases, written to
// a scratch folder by `npm run fuzz -- --seed`; with --merge, libFuzzer keeps the subset that
// covers as much in test/fuzz/corpus/<target>/. Rerun so when a target's input format changes.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeLocalProxyHeader, writeProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { chunkedBody, Gen, generateRequest, generateResponse, mutate, prng } from '../helpers/http1-differential.js';
import { captureClientHello } from '../helpers/tls.js';

const SEED = 20261124;
const ROUNDS = 200;

function mutated(g: Gen, input: Buffer): Buffer {
  for (let n = g.chance(0.5) ? 1 + g.int(3) : 0; n > 0; n--) input = mutate(g, input);
  return input;
}

const v4 = { source: { address: '192.0.2.10', port: 51234 }, destination: { address: '198.51.100.1', port: 443 } };
const v6 = { source: { address: '2001:db8::1', port: 40000 }, destination: { address: '2001:db8:0:0:1::2', port: 8443 } };

const labelSets: Record<string, string>[] = [
  { host: 'a.example.com, B.example.com', path: '/api', port: '8080', weight: '2', network: 'front', scheme: 'https' },
  { host: 'a.test', headers: 'X-Env=blue', entrypoint: 'websecure', priority: '5' },
  { 'http.routers.site.host': 'site.example.com', 'http.routers.site.service': 'site', 'tcp.routers.db.entrypoint': 'pg', 'tcp.routers.db.service': 'pg', 'services.site.port': '3000', 'services.site.balancer': 'least_request', 'services.pg.port': '5432', 'services.site.healthcheck.path': '/health', 'services.site.healthcheck.interval': '5s' },
  { 'http.services.api.port': '3000', 'http.services.api.retries': '3', 'http.services.api.timeouts.connect': '250ms', 'http.services.api.sticky.cookie': 'srv', 'http.services.api.balancer': 'sticky' },
  { host: 'a.test', retries: '0', 'timeouts.idle': '5m', balancer: 'random' },
  { 'healthcheck.path': '/h', 'healthcheck.timeout': '10s' },
  { hots: 'x.example.com', port: '99999', 'http.routers.r.hots': 'x' },
  { sni: 'db.example.com', 'tcp.routers.db.tls': 'true', port: '5432' },
];

export async function seeds(): Promise<Record<string, Buffer[]>> {
  const g = new Gen(prng(SEED));
  const hellos = [
    await captureClientHello({ servername: 'DB.Example.com', ALPNProtocols: ['h2', 'http/1.1'] }),
    await captureClientHello({}),
    await captureClientHello({ servername: 'split.example.com', ALPNProtocols: ['acme-tls/1'] }),
  ];
  return {
    'request-head': Array.from({ length: ROUNDS }, () => mutated(g, generateRequest(g))),
    'response-head': Array.from({ length: ROUNDS }, () => Buffer.concat([Buffer.from([g.int(256)]), mutated(g, generateResponse(g))])),
    chunked: Array.from({ length: ROUNDS }, () => Buffer.from(String.fromCharCode(g.int(256)) + chunkedBody(g), 'latin1')),
    'proxy-protocol': [
      ...(['v1', 'v2'] as const).flatMap((version) => [v4, v6].map((addresses) => Buffer.concat([writeProxyHeader(version, addresses), Buffer.from('GET / HTTP/1.1\r\n')]))),
      writeLocalProxyHeader('v1'),
      writeLocalProxyHeader('v2'),
      writeProxyHeader('v2', { source: { address: '64:ff9b::192.0.2.1', port: 1 }, destination: { address: '::1', port: 2 } }),
      Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n'),
      Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 80 81\r\n'),
    ],
    'client-hello': hellos.flatMap((hello) => [Buffer.concat([Buffer.from([39]), hello]), Buffer.concat([Buffer.from([0]), hello.subarray(0, 60)])]),
    labels: labelSets.map((set) => Buffer.from(Object.entries(set).map(([key, value]) => `${key}=${value}`).join('\n'))),
  };
}

export function writeSeeds(into: string, inputs: Record<string, Buffer[]>): void {
  for (const [target, list] of Object.entries(inputs)) {
    const folder = join(into, target);
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    list.forEach((input, i) => writeFileSync(join(folder, `seed-${String(i).padStart(3, '0')}`), input));
  }
}
