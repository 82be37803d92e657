// The JavaScript a middleware chain adds to a request, without sockets: on this repository's
// shared 2-core machines the proxy's CPU per request moves by ±10 % from round to round, more
// than a chain costs, so `npm run bench`'s middlewares row cannot tell a 0.3 µs change. This
// runs the work lb does on the fast path for one request and its response (the request head
// parsed and written for the server, the response head parsed and written for the client), with
// and without the bench's chain (ipAllowList, stripPrefix, headers), in alternating rounds in one
// process, and prints the ns of each and their ratio. The client is a stand-in with the fields a
// chain reads of one (ChainClient); everything else is lb's own code.
// Usage: npm run bench:chain [-- --rounds 31]
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { ChainRequest, compileMiddlewares, MiddlewareChain, type ChainClient, type ChainOutcome } from '../src/middleware/chain.js';
import { parseRequestHead, RequestHead } from '../src/proxy/http1/request-head.js';
import { parseResponseHead } from '../src/proxy/http1/response-head.js';
import { downstreamResponseHead, ForwardedLines, TrustedProxies, upstreamRequestHead, type ForwardingFacts } from '../src/proxy/http/headers.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '31' }, iterations: { type: 'string', default: '300000' } } });
const rounds = Number(values.rounds);
const iterations = Number(values.iterations);

const config = parseConfig(`
entrypoints: { web: { address: "127.0.0.1:8080" } }
middlewares:
  tag: { headers: { customRequestHeaders: { X-Env: bench }, customResponseHeaders: { X-Frame-Options: DENY } } }
  strip: { stripPrefix: { prefixes: [/api] } }
  local: { ipAllowList: { sourceRange: [127.0.0.0/8] } }
`, 'bench chain');
const names = ['local', 'strip', 'tag'];
const compiled = compileMiddlewares(config.middlewares, undefined);
const chain = new MiddlewareChain(names, names.map((name) => compiled.get(name)!.middleware), []);

// What wrk sends, and what the bench's nginx answers.
const requestBytes = Buffer.from('GET /api/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n', 'latin1');
const responseBytes = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 12:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n', 'latin1');
const facts: ForwardingFacts = { clientIp: '127.0.0.1', trusted: false, proto: 'http', port: 8080, upgrade: false };
const trusted = new TrustedProxies([]);
const bodyPace = { pauseMs: 30_000, minRate: undefined };
const lastForwarded = new ForwardedLines();
let bytes = 0;

function requestHead(): RequestHead {
  const head = parseRequestHead(requestBytes, 0, requestBytes.length);
  if (!(head instanceof RequestHead)) throw new Error('the bench request did not parse');
  return head;
}

function respond(edits: ChainRequest | undefined): void {
  const head = parseResponseHead(responseBytes, 0, responseBytes.length, false, edits && chain.responseEdits);
  bytes += downstreamResponseHead(head!, 'Connection: keep-alive\r\n\r\n', 12).length;
}

function plain(): void {
  bytes += upstreamRequestHead(requestHead(), facts, false, lastForwarded).length;
  respond(undefined);
}

interface BenchClient extends ChainClient {
  head: RequestHead;
}

// One client, as a connection's FastRequest is there before any chain: only its head is new per request.
const first = requestHead();
const client: BenchClient = { head: first, method: first.method, url: first.url, host: first.host, headers: {}, rawHeaders: [], clientIp: '127.0.0.1', localPort: 8080, contentLength: 0, tls: undefined, gone: false, acceptsChunked: true, streamBody: () => { throw new Error('the bench request has no body'); } };

const outcome: ChainOutcome<ChainRequest<BenchClient>> = {
  forward(request) {
    bytes += upstreamRequestHead(request.client.head, facts, false, lastForwarded, request.requestEdits).length;
    respond(request);
    request.end();
  },
  answer: () => {
    throw new Error('the chain answered the bench request');
  },
  fail: (error) => {
    throw error;
  },
};

function withChain(): void {
  client.head = requestHead();
  chain.run(new ChainRequest(client, trusted, bodyPace), outcome);
}

function nsPerCall(run: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) run();
  return Number(process.hrtime.bigint() - start) / iterations;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
for (let i = 0; i < 5; i++) nsPerCall(plain), nsPerCall(withChain);
const plainNs: number[] = [];
const chainNs: number[] = [];
const ratios: number[] = [];
for (let round = 0; round < rounds; round++) {
  plainNs.push(nsPerCall(plain));
  chainNs.push(nsPerCall(withChain));
  ratios.push(chainNs.at(-1)! / plainNs.at(-1)!);
}
if (bytes === 0) throw new Error('nothing was written');
console.log(`${rounds} rounds × ${iterations} requests, median: without a chain ${median(plainNs).toFixed(0)} ns, with ${median(chainNs).toFixed(0)} ns; the chain adds ${(median(chainNs) - median(plainNs)).toFixed(0)} ns (× ${median(ratios).toFixed(2)} paired by round)`);
