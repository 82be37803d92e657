import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { namedBackend, startBackend } from './helpers/servers.js';
import { within } from './helpers/wait.js';

test('/healthz, /metrics and /api/state describe the running balancer', async (t) => {
  const backend = await namedBackend(t, 'a');
  const lb = await startLb(t, lbYaml(`
routers:
  all: { entrypoint: web, match: { host: "a.example.com" }, service: svc }
services:
  svc: { balancer: least_request, servers: [ { url: "${backend.url}", weight: 3 } ] }
`, { entrypoints: { db: 'protocol: tcp' } }));
  for (let i = 0; i < 3; i++) await (await request(lb.url('web'), { headers: { host: 'a.example.com' } })).body.text();
  await (await request(lb.url('web'), { headers: { host: 'nobody.example.com' } })).body.text();

  const health = await request(`${lb.url('admin')}/healthz`);
  assert.equal(health.statusCode, 200);
  assert.equal(await health.body.text(), 'ok\n');

  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_http_requests_total\{entrypoint="web",router="all",service="svc",method="GET",code="200"\} 3$/m);
  assert.match(metrics, /^lb_http_requests_total\{entrypoint="web",router="",service="",method="GET",code="404"\} 1$/m);
  assert.match(metrics, /^lb_http_request_duration_seconds_count\{entrypoint="web",service="svc"\} 3$/m);
  assert.match(metrics, /^lb_entrypoint_open_connections\{entrypoint="web",protocol="http"\} \d+$/m);
  assert.match(metrics, /^lb_backend_requests_in_flight\{service="svc",backend="127\.0\.0\.1:\d+"\} 0$/m);
  assert.match(metrics, /^process_resident_memory_bytes \d+/m);

  const state = (await (await request(`${lb.url('admin')}/api/state`)).body.json()) as {
    entrypoints: Array<{ name: string; protocol: string; listening: string }>;
    routers: Array<{ name: string; match: { host: string[] } }>;
    services: Array<{ name: string; balancer: string; servers: Array<{ backend: string; weight: number; inFlight: number; state: string }> }>;
  };
  assert.deepEqual(state.entrypoints.map((e) => [e.name, e.protocol]), [['web', 'http'], ['db', 'tcp']]);
  assert.equal(state.entrypoints[0]!.listening, `127.0.0.1:${lb.port('web')}`);
  assert.deepEqual(state.routers[0]!.match.host, ['a.example.com']);
  assert.equal(state.services[0]!.balancer, 'least_request');
  assert.deepEqual(state.services[0]!.servers[0], { backend: `127.0.0.1:${backend.port}`, url: backend.url, weight: 3, inFlight: 0, state: 'up', inRotation: true, healthy: true, ejectedUntil: null, lastCheck: null });

  const missing = await request(`${lb.url('admin')}/nope`);
  assert.equal(missing.statusCode, 404);
  await missing.body.text();
});

test('/healthz answers 503 once shutdown begins, while in-flight requests finish', async (t) => {
  // The backend holds its answer until the test releases it: the request is in flight throughout.
  let arrived: (finish: () => void) => void = () => undefined;
  const reachedBackend = new Promise<() => void>((resolve) => (arrived = resolve));
  const slow = await startBackend(t, (_req, res) => arrived(() => res.end('finished')));
  const lb = await startLb(t, oneServiceConfig(slow.url));
  const admin = lb.url('admin');
  const inFlight = request(lb.url('web'));
  const finish = await within(reachedBackend, 'the request to reach the backend');
  const stopping = lb.stop(5_000);
  const health = await request(`${admin}/healthz`);
  assert.equal(health.statusCode, 503);
  assert.equal(await health.body.text(), 'shutting down\n');
  finish();
  const res = await inFlight;
  assert.equal(await res.body.text(), 'finished', 'the accepted request completes');
  await stopping;
});
