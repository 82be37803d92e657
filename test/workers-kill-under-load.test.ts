import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { spawnLb, workerPids } from './helpers/lb-process.js';
import { startLoad } from './helpers/load.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// With workers: 2, a worker killed with SIGKILL under load costs only what was in flight on it:
// the other worker keeps serving, the primary starts a replacement, says so, and counts it.


test('a worker killed under load: failures bounded by the connections it held, replaced, logged and counted', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const lb = await spawnLb(t, lbYaml(`
workers: 2
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`));
  const connections = 16;
  const load = startLoad({ url: `http://127.0.0.1:${lb.port('web')}`, host: 'app.test', connections, maxMs: 6_000 });
  await eventually(() => load.progress.ok >= 500 || undefined, 'the load to get going');
  const [victim] = workerPids(lb);
  process.kill(victim!, 'SIGKILL');
  await lb.logged('replacement worker listening', 15_000);
  const result = await load.done;
  const failed = result.requests - result.ok;
  t.diagnostic(`${result.requests} requests, ${failed} failed: ${JSON.stringify([...result.failures])}`);
  // Each connection the dead worker held can lose the one request it had in flight.
  assert.ok(failed <= connections, `${failed} failed requests; at most ${connections} were in flight`);
  assert.ok(result.ok > 1_000, `${result.ok} requests served`);
  const exit = lb.logs.find((l) => l.msg === 'data-plane worker exited; starting a new one');
  assert.equal(exit?.signal, 'SIGKILL');
  const metrics = await (await request(`http://127.0.0.1:${lb.port('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_worker_exits_total\{reason="SIGKILL"\} 1$/m);
  assert.equal(workerPids(lb).length, 2);
});
