import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { closedPort, namedBackend } from './helpers/servers.js';
import { requireTool } from './helpers/tools.js';

test('a real Prometheus scrapes lb and sees the request count', { timeout: 90_000 }, async (t) => {
  if (!requireTool(t, 'prometheus', 'prometheus')) return;
  const backend = await namedBackend(t, 'ok');
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const dir = mkdtempSync(join(tmpdir(), 'lb-prom-'));
  const port = await closedPort();
  writeFileSync(join(dir, 'prometheus.yml'), `
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: lb
    static_configs: [ { targets: ["127.0.0.1:${lb.port('admin')}"] } ]
`);
  const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  t.after(() => {
    prometheus.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 7; i++) await (await request(lb.url('web'))).body.text();

  const query = `sum(lb_http_requests_total{service="svc",code="200"})`;
  const deadline = Date.now() + 60_000;
  let seen: string | undefined;
  while (Date.now() < deadline) {
    try {
      const res = await request(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await res.body.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
      seen = body.data?.result?.[0]?.value[1];
      if (seen === '7') break;
    } catch {
      // Prometheus is still starting.
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.equal(seen, '7', `Prometheus answered ${seen} for ${query}`);
});
