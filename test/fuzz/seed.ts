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

/** Header lists in the h2-request target's encoding (see its decodeFields): good ones and the refused cases of test/http2-refused-requests.test.ts. */
function h2RequestSeeds(): Buffer[] {
  const encode = (flags: number, fields: Array<[string, string]>) => Buffer.concat([Buffer.from([flags]), ...fields.flatMap(([n, v]) => [Buffer.from([n.length]), Buffer.from(n, 'latin1'), Buffer.from([v.length]), Buffer.from(v, 'latin1')])]);
  const get: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'https'], [':path', '/a?b'], [':authority', 'app.test:8443']];
  return [
    encode(1, get),
    encode(3, [['content-length', '5'], ['cookie', 'a=1'], ['cookie', 'b=2'], ['te', 'trailers']]),
    encode(2, [['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', '1S']]),
    encode(3, [['host', 'app.test'], ['x-forwarded-for', '6.6.6.6'], ['accept', '*/*']]),
    encode(1, [...get, ['connection', 'close']]),
    encode(1, [...get, ['transfer-encoding', 'chunked']]),
    encode(1, [...get, ['x-a', 'b\r\nx-injected: 1']]),
    encode(1, [...get, ['X-Upper', '1']]),
    encode(1, [...get, ['host', 'evil.test']]),
    encode(0, [[':method', 'POST'], ['x-a', '1'], [':path', '/']]),
  ];
}

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
    'h2-request': h2RequestSeeds(),
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
