import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { Pool, request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { closedPort, namedBackend, startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('mirrors that hang or refuse change nothing for the client: every answer comes from the main service, without delay, and hanging copies are bounded', { timeout: 60_000 }, async (t) => {
  const main = await namedBackend(t, 'main');
  const hanging: ServerResponse[] = [];
  const hangs = await startBackend(t, (req, res) => {
    req.resume();
    hanging.push(res);
  });
  t.after(() => { for (const res of hanging) res.destroy(); });
  const refused = await closedPort();
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services:
  app: { mirroring: { service: main, mirrors: [ { name: hangs, percent: 100 }, { name: down, percent: 100 } ], maxInFlight: 5 } }
  main: { servers: [ { url: "${main.url}" } ] }
  hangs: { timeouts: { responseHeaders: 60s }, servers: [ { url: "${hangs.url}" } ] }
  down: { retries: 0, servers: [ { url: "http://127.0.0.1:${refused}" } ] }
`));
  const pool = new Pool(lb.url('web'), { connections: 4 });
  t.after(() => pool.close());
  const requests = 200;
  let slowest = 0;
  const statuses = new Map<string, number>();
  const worker = async (share: number) => {
    for (let i = 0; i < share; i++) {
      const started = performance.now();
      const res = await pool.request({ path: '/', method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'form=1' : null });
      const key = `${res.statusCode} ${await res.body.text()}`;
      slowest = Math.max(slowest, performance.now() - started);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 4 }, () => worker(requests / 4)));
  assert.deepEqual(Object.fromEntries(statuses), { '200 main': requests });
  // A copy never holds the client's answer: the hanging mirror would hold it for 60 s.
  assert.ok(slowest < 2_000, `slowest answer took ${Math.round(slowest)} ms`);
  assert.equal(hanging.length, 5, 'no more copies in flight to a mirror than maxInFlight');

  let metrics = '';
  const copies = (mirror: string, result: string) => Number(new RegExp(`^lb_mirrored_requests_total\\{service="app",mirror="${mirror}",result="${result}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  // The last copies to the refusing mirror may still be failing as the last answers arrive.
  await eventually(async () => {
    metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
    return copies('down', 'failed') === requests;
  }, 'every copy to a refusing mirror fails, and is counted');
  assert.equal(copies('hangs', 'busy'), requests - 5);
  for (const method of ['GET', 'POST']) assert.match(metrics, new RegExp(`^lb_http_requests_total\\{[^}]*service="main",method="${method}",code="200"\\} 100$`, 'm'));
});
