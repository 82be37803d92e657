import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Pool, request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';

test('a weighted service splits 10,000 requests 95/5 between its services, and metrics and access logs name the service that served', { timeout: 120_000 }, async (t) => {
  const v1 = await namedBackend(t, 'v1');
  const v2 = await namedBackend(t, 'v2');
  const log = join(mkdtempSync(join(tmpdir(), 'lb-weighted-')), 'access.log');
  const lb = await startLb(t, lbYaml(`
accessLog: { enabled: true, path: "${log}" }
routers: { app: { entrypoint: web, service: app } }
services:
  app: { weighted: { services: [ { name: app-v1, weight: 95 }, { name: app-v2, weight: 5 } ] } }
  app-v1: { servers: [ { url: "${v1.url}" } ] }
  app-v2: { servers: [ { url: "${v2.url}" } ] }
`));
  const pool = new Pool(lb.url('web'), { connections: 8 });
  t.after(() => pool.close());
  const total = 10_000;
  const served = new Map<string, number>();
  let sent = 0;
  const deadline = Date.now() + 90_000;
  const worker = async () => {
    while (sent < total && Date.now() < deadline) {
      sent++;
      const res = await pool.request({ path: '/', method: 'GET' });
      const body = await res.body.text();
      assert.equal(res.statusCode, 200);
      served.set(body, (served.get(body) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.equal(sent, total, 'the load finished in time');
  const toV2 = served.get('v2') ?? 0;
  assert.equal(toV2 + (served.get('v1') ?? 0), total);
  assert.ok(Math.abs(toV2 - total * 0.05) <= total * 0.01, `5% ± 1% to app-v2, got ${toV2} of ${total}`);

  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  const counted = (service: string) => Number(new RegExp(`^lb_http_requests_total\\{[^}]*service="${service}"[^}]*code="200"[^}]*\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  assert.equal(counted('app-v2'), toV2, 'requests are counted for the service that served them');
  assert.equal(counted('app-v1'), total - toV2);
  assert.equal(counted('app'), 0, 'the weighted service itself serves nothing');

  const state = (await (await request(`${lb.url('admin')}/api/state`)).body.json()) as { services: Array<{ name: string; weighted?: unknown }> };
  assert.deepEqual(state.services.find((s) => s.name === 'app')!.weighted, { services: [{ name: 'app-v1', weight: 95 }, { name: 'app-v2', weight: 5 }] }, '/api/state shows the split');

  await lb.stop(100);
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { router: string; service: string; backend: string });
  assert.equal(lines.length, total);
  assert.equal(lines.filter((line) => line.service === 'app-v2' && line.backend === `127.0.0.1:${v2.port}` && line.router === 'app').length, toV2);
});
