import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { closedPort, namedBackend } from './helpers/servers.js';
import { requireTool } from './helpers/tools.js';

test('/metrics after traffic passes promtool check metrics', async (t) => {
  if (!requireTool(t, 'promtool', 'prometheus')) return;
  const backend = await namedBackend(t, 'ok');
  const lb = await startLb(t, lbYaml(`
routers:
  ok: { entrypoint: web, match: { pathPrefix: "/ok" }, service: ok }
  broken: { entrypoint: web, match: { pathPrefix: "/broken" }, service: broken }
  db: { entrypoint: db, service: db }
services:
  ok: { healthCheck: { path: /, interval: 1s }, servers: [ { url: "${backend.url}" } ] }
  broken: { servers: [ { url: "http://127.0.0.1:${await closedPort()}" } ] }
  db: { servers: [ { address: "127.0.0.1:${backend.port}" } ] }
`, { entrypoints: { db: 'protocol: tcp' } }));
  for (const path of ['/ok', '/ok', '/broken', '/nowhere']) await (await request(`${lb.url('web')}${path}`, { method: path === '/ok' ? 'POST' : 'GET', body: path === '/ok' ? 'x' : null })).body.text();
  const text = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  for (const name of ['lb_http_requests_total', 'lb_http_request_duration_seconds_bucket', 'lb_http_errors_total', 'lb_http_request_bytes_total', 'lb_http_response_bytes_total', 'lb_entrypoint_open_connections', 'lb_backend_up', 'lb_health_checks_total', 'lb_config_reloads_total', 'lb_snapshot_build_duration_seconds_count', 'process_cpu_seconds_total']) {
    assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} is missing`);
  }
  assert.doesNotMatch(text, /\/ok|\/broken|\/nowhere/, 'no path in any label');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
});
