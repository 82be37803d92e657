// gRPC health checks (healthCheck.type: grpc): /grpc.health.v1.Health/Check over HTTP/2 to real
// @grpc/grpc-js servers, healthy only on grpc-status 0 and SERVING; lb's pool follows them. HTTP
// checks of h2c:// servers speak HTTP/2 too, since such a server may speak nothing else.
import assert from 'node:assert/strict';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Backend } from '../src/balancer/index.js';
import { normaliseService } from '../src/config/normalise.js';
import { serviceSchema } from '../src/config/schema.js';
import type { ServerConfig } from '../src/config/types.js';
import { probe } from '../src/health/checker.js';
import { parseLabels } from '../src/providers/docker/labels.js';
import { lbYaml } from './helpers/config.js';
import { EchoClient, startGrpcServer, type EchoClientType, type Message } from './helpers/grpc-echo.js';
import { addHealthService, type ServingStatus } from './helpers/grpc-health.js';
import { startLb, usableServers } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { makeTestCa } from './helpers/test-ca.js';
import { CertificateFolder } from './helpers/tls.js';
import { eventually } from './helpers/wait.js';

/** A check as lb.yaml writes it, on a server of `scheme`, checked and normalised as lb does. */
function target(scheme: ServerConfig['scheme'], port: number, settings: Record<string, unknown>) {
  const problems: unknown[] = [];
  const raw = serviceSchema(settings, [], []);
  assert.ok(raw, `invalid settings ${JSON.stringify(settings)}`);
  const config = normaliseService('s', 'http', raw, [], (path, message) => problems.push({ path, message }));
  assert.deepEqual(problems, []);
  return { service: 's', backend: new Backend({ scheme, host: '127.0.0.1', port, weight: 1 }), check: config.healthCheck!, tls: config.tls, http2: config.http2 };
}

async function healthServer(t: TestContext, statuses: Map<string, ServingStatus>, options: { port?: number; credentials?: grpc.ServerCredentials } = {}) {
  const { server, port } = await startGrpcServer({ ...options, setup: (s) => addHealthService(s, statuses) });
  t.after(() => server.forceShutdown());
  return { server, port };
}

test('a gRPC check passes on SERVING, and fails on NOT_SERVING, an unknown service, a server without the health service, and a server down', async (t) => {
  const statuses = new Map<string, ServingStatus>([['', 'SERVING'], ['lb.test.Echo', 'SERVING'], ['lb.test.Old', 'NOT_SERVING']]);
  const { port } = await healthServer(t, statuses);
  assert.equal(await probe(target('h2c', port, { healthCheck: { type: 'grpc' } })), 'gRPC SERVING');
  assert.equal(await probe(target('h2c', port, { healthCheck: { grpcService: 'lb.test.Echo' } })), 'gRPC SERVING (lb.test.Echo)', 'grpcService alone makes a gRPC check');
  await assert.rejects(probe(target('h2c', port, { healthCheck: { grpcService: 'lb.test.Old' } })), /^Error: gRPC NOT_SERVING$/);
  await assert.rejects(probe(target('h2c', port, { healthCheck: { grpcService: 'lb.test.Gone' } })), /^Error: grpc-status 5 NOT_FOUND: unknown service lb.test.Gone$/);
  statuses.set('', 'NOT_SERVING');
  await assert.rejects(probe(target('h2c', port, { healthCheck: { type: 'grpc' } })), /gRPC NOT_SERVING/, 'the answer follows the server as it changes');
  const echoOnly = await startGrpcServer();
  t.after(() => echoOnly.server.forceShutdown());
  await assert.rejects(probe(target('h2c', echoOnly.port, { healthCheck: { type: 'grpc' } })), /grpc-status 12 UNIMPLEMENTED/);
  await assert.rejects(probe(target('h2c', await closedPort(), { healthCheck: { type: 'grpc' } })), /ECONNREFUSED/);
  await assert.rejects(probe(target('http', await closedPort(), { healthCheck: { type: 'grpc' } })), /ECONNREFUSED/, 'an http:// server is checked in h2c too');
});

test('a gRPC check of an https:// server verifies it and negotiates h2; one that hangs fails at its timeout', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const ca = makeTestCa(t);
  const cert = ca.issue(['127.0.0.1']);
  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(cert.key), cert_chain: Buffer.from(cert.cert) }], false);
  const { port } = await healthServer(t, new Map([['', 'SERVING']]), { credentials });
  assert.equal(await probe(target('https', port, { http2: true, tls: { caFile: ca.caFile }, healthCheck: { type: 'grpc' } })), 'gRPC SERVING');
  await assert.rejects(probe(target('https', port, { healthCheck: { type: 'grpc' } })), /UNABLE_TO_VERIFY_LEAF_SIGNATURE/, 'a certificate requests would refuse fails the check');
  const silent = createServer();
  silent.on('stream', () => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const started = Date.now();
  await assert.rejects(probe(target('h2c', (silent.address() as AddressInfo).port, { healthCheck: { type: 'grpc', interval: '10s', timeout: '150ms' } })), /no answer within 150ms/);
  assert.ok(Date.now() - started < 3_000);
});

test('an HTTP check of an h2c:// server is a GET over HTTP/2, with its path, Host and headers', async (t) => {
  const seen: unknown[] = [];
  const server = createServer();
  server.on('stream', (stream, headers) => {
    seen.push([headers[':path'], headers[':authority'], headers['x-token']]);
    stream.respond({ ':status': headers[':path'] === '/down' ? 503 : 204 }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  assert.equal(await probe(target('h2c', port, { healthCheck: { path: '/health', host: 'app.test', headers: { 'X-Token': 'secret' } } })), 'HTTP 204');
  assert.deepEqual(seen, [['/health', 'app.test', 'secret']]);
  await assert.rejects(probe(target('h2c', port, { healthCheck: { path: '/down' } })), /HTTP 503, expected 200-399/);
});

test('labels set a gRPC check through the one schema; grpcService on another kind of check is a warning', () => {
  const result = parseLabels({
    'lb.enable': 'true',
    'lb.http.services.api.port': '50051',
    'lb.http.services.api.scheme': 'h2c',
    'lb.http.services.api.healthCheck.type': 'grpc',
    'lb.http.services.api.healthCheck.grpcService': 'app.Users',
    'lb.http.services.api.healthCheck.interval': '2s',
  }, { prefix: 'lb', exposedByDefault: false, name: 'api1' });
  assert.deepEqual(result.errors, []);
  const check = result.config!.services.get('api')!.config.healthCheck!;
  assert.deepEqual([check.type, check.grpcService, check.intervalMs], ['grpc', 'app.Users', 2000]);
  const problems: string[] = [];
  normaliseService('s', 'http', serviceSchema({ healthCheck: { type: 'tcp', grpcService: 'x' } }, [], [])!, [], (path, message, _atKey, warning) => problems.push(`${warning ? 'warning' : 'error'}: ${path.join('.')}: ${message}`));
  assert.deepEqual(problems, ['warning: healthCheck.grpcService: grpcService applies to gRPC checks; this one is tcp']);
});

function unary(client: EchoClientType, text: string): Promise<Message> {
  return new Promise((resolve, reject) => (client.unary as (m: Message, cb: (e: grpc.ServiceError | null, r?: Message) => void) => void)({ text }, (e, r) => (e ? reject(e) : resolve(r!))));
}

test('lb\'s pool follows the gRPC checks: a server NOT_SERVING, one that forgot the service and one that stopped leave it, and come back', async (t) => {
  const one = new Map<string, ServingStatus>([['lb.test.Echo', 'SERVING']]);
  const two = new Map<string, ServingStatus>([['lb.test.Echo', 'SERVING']]);
  const first = await healthServer(t, one);
  let second = await healthServer(t, two);
  const lb = await startLb(t, lbYaml(`
routers:
  all: { entrypoint: web, service: echo }
services:
  echo:
    healthCheck: { type: grpc, grpcService: lb.test.Echo, interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
    panicThreshold: 0
    servers: [ { url: "h2c://127.0.0.1:${first.port}" }, { url: "h2c://127.0.0.1:${second.port}" } ]
`, { web: 'http2: { cleartext: true }' }));
  const client = new EchoClient(`127.0.0.1:${lb.port('web')}`, grpc.credentials.createInsecure()) as EchoClientType;
  t.after(() => client.close());
  const usable = (n: number, what: string) => eventually(() => usableServers(lb, 'echo') === n, what);
  const firstUsable = () => lb.control.isUsable('echo', lb.control.snapshot.services.get('echo')!.backends.find((b) => b.port === first.port)!);
  await usable(2, 'both servers pass their first check');
  one.set('lb.test.Echo', 'NOT_SERVING');
  await usable(1, 'the NOT_SERVING server leaves the pool');
  assert.equal(firstUsable(), false);
  assert.equal((await unary(client, 'a')).text, 'echo a', 'calls go to the other server');
  one.set('lb.test.Echo', 'SERVING');
  await usable(2, 'it comes back when SERVING again');
  two.delete('lb.test.Echo');
  await usable(1, 'a server that answers NOT_FOUND for the service leaves the pool');
  assert.equal(firstUsable(), true);
  second.server.forceShutdown();
  one.set('lb.test.Echo', 'NOT_SERVING');
  await usable(0, 'a stopped server, and the other NOT_SERVING: none is left');
  await assert.rejects(unary(client, 'b'), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
  two.set('lb.test.Echo', 'SERVING');
  second = await healthServer(t, two, { port: second.port });
  await usable(1, 'the restarted server passes again');
  assert.equal((await unary(client, 'c')).text, 'echo c');
});
