// `workers: N`: a primary with the control plane, N cluster workers with the data plane. Runs the
// built CLI (dist/), as users do, and checks what crosses the process boundary: snapshots out,
// passive signals back, metrics summed, workers replaced, shutdown in order.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { spawnLb, workerPids, type LbProcess } from './helpers/lb-process.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';
import { requireTool } from './helpers/tools.js';

function get(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, headers: { host, connection: 'close' }, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function adminText(lb: LbProcess, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${lb.port('admin')}${path}`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}



function config(backends: Record<string, string>, extra = ''): string {
  const routers = Object.keys(backends).map((name) => `  ${name}: { entrypoint: web, match: { host: "${name}.test" }, service: ${name} }`).join('\n');
  const services = Object.entries(backends).map(([name, url]) => `  ${name}: { servers: [ { url: "${url}" } ]${extra} }`).join('\n');
  return `workers: 2
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
routers:
${routers}
services:
${services}
`;
}

test('two workers serve, and /metrics sums them into one valid exposition', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('a'));
  const lb = await spawnLb(t, config({ a: backend.url }));
  assert.equal(workerPids(lb).length, 2, 'the primary forks two workers');
  const sent = 60;
  for (let i = 0; i < sent; i++) assert.equal((await get(lb.port('web'), 'a.test')).status, 200);

  const text = await adminText(lb, '/metrics');
  const served = /^lb_http_requests_total\{[^}]*service="a"[^}]*code="200"\} (\d+)$/m.exec(text);
  assert.equal(Number(served?.[1]), sent, 'requests served by both workers are summed');
  assert.match(text, /^lb_backend_up\{service="a",backend="127\.0\.0\.1:\d+"\} 1$/m, 'control-plane gauges come from the primary, once');
  assert.match(text, /^lb_primary_process_cpu_user_seconds_total /m, "the primary's own process metrics are prefixed");
  assert.match(text, /^nodejs_version_info\{[^}]*\} 1$/m, 'info gauges are not summed across workers');
  const fds = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  assert.equal(fds('process_max_fds'), fds('lb_primary_process_max_fds'), 'a per-process limit is not summed');
  if (requireTool(t, 'promtool', 'prometheus')) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  }
  await eventually(async () => (JSON.parse(await adminText(lb, '/api/stats')) as { services: Record<string, { requests: number }> }).services.a?.requests === sent, 'the workers to report their totals');
});

test('a reload reaches every worker as a new snapshot', async (t) => {
  const first = await startBackend(t, (_req, res) => res.end('first'));
  const second = await startBackend(t, (_req, res) => res.end('second'));
  const lb = await spawnLb(t, config({ a: first.url }));
  assert.equal((await get(lb.port('web'), 'b.test')).status, 404);
  writeFileSync(lb.configPath, config({ a: first.url, b: second.url }));
  // Connection: close on every request, so that both workers take some of them.
  await eventually(async () => (await get(lb.port('web'), 'b.test')).body === 'second', 'the new router to serve');
  for (let i = 0; i < 20; i++) assert.equal((await get(lb.port('web'), 'b.test')).body, 'second', `request ${i} went to a worker without the new snapshot`);
});

test("a worker's passive signals reach the primary, which ejects for all workers", async (t) => {
  const good = await startBackend(t, (_req, res) => res.end('good'));
  const bad = await startBackend(t, (_req, res) => {
    res.statusCode = 503;
    res.end('bad');
  });
  const lb = await spawnLb(t, lbYaml(`
workers: 2
routers: { a: { entrypoint: web, match: { host: "a.test" }, service: a } }
services:
  a:
    balancer: round_robin
    retries: 0
    servers: [ { url: "${good.url}" }, { url: "${bad.url}" } ]
    outlierDetection: { consecutiveFailures: 2, baseEjectionTime: 60s }
`));
  await eventually(async () => {
    await get(lb.port('web'), 'a.test');
    return /^lb_backend_ejections_total\{[^}]*\} 1$/m.test(await adminText(lb, '/metrics'));
  }, 'the failing server to be ejected');
  const state = JSON.parse(await adminText(lb, '/api/state')) as { services: Array<{ name: string; servers: Array<{ state: string; ejectedUntil: string | null }> }> };
  const servers = state.services.find((s) => s.name === 'a')!.servers;
  assert.ok(servers.some((s) => s.state === 'ejected' && s.ejectedUntil !== null), 'the admin API shows the ejection');
  // Once the snapshot without it reaches both workers, every request goes to the good server.
  await eventually(async () => {
    const bodies = await Promise.all(Array.from({ length: 6 }, () => get(lb.port('web'), 'a.test').then((r) => r.body)));
    return bodies.every((b) => b === 'good');
  }, 'every worker to stop sending to the ejected server');
});

test('a worker that dies is replaced, and SIGTERM stops the primary and its workers', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('a'));
  const lb = await spawnLb(t, config({ a: backend.url }));
  const [victim] = workerPids(lb);
  process.kill(victim!, 'SIGKILL');
  await eventually(() => lb.logs.some((l) => l.msg === 'replacement worker listening'), 'a replacement worker');
  await eventually(() => workerPids(lb).length === 2 && !workerPids(lb).includes(victim!), 'two workers again');
  for (let i = 0; i < 10; i++) assert.equal((await get(lb.port('web'), 'a.test')).status, 200);

  const workers = workerPids(lb);
  lb.child.kill('SIGTERM');
  assert.equal(await lb.exited, 0);
  for (const pid of workers) assert.throws(() => execFileSync('kill', ['-0', String(pid)], { stdio: 'ignore' }), `worker ${pid} outlived the primary`);
});

test('workerListen: reuse_port gives each worker a socket of its own, or a clear error on older Node', async (t) => {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const supported = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const backend = await startBackend(t, (_req, res) => res.end('a'));
  const yaml = config({ a: backend.url }).replace('workers: 2', 'workers: 2\nworkerListen: reuse_port').replace('127.0.0.1:0" } }', `127.0.0.1:${port}" } }`);
  if (!supported) {
    // Node 20 has no SO_REUSEPORT option: lb refuses the setting and starts nothing.
    await assert.rejects(spawnLb(t, yaml), /exited with 1 before starting; stderr: .*workerListen: reuse_port needs Node\.js 22\.12 or later/s);
    return;
  }
  const lb = await spawnLb(t, yaml);
  const listeners = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim().split('\n');
  assert.equal(listeners.length, 2, `one socket per worker: ${listeners.join(' / ')}`);
  for (let i = 0; i < 20; i++) assert.equal((await get(port, 'a.test')).status, 200);
});
