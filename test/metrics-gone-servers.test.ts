// A server that leaves every pool takes its per-server series out of /metrics: with containers
// that come and go, series of servers long gone would otherwise pile up without bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

function config(urls: string[]): string {
  return lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services:
  app: { healthCheck: { path: /, interval: 200ms, timeout: 100ms }, servers: [ ${urls.map((url) => `{ url: "${url}" }`).join(', ')} ] }
`);
}

const seriesOf = async (adminUrl: string, backend: string) =>
  (await (await request(`${adminUrl}/metrics`)).body.text()).split('\n').filter((line) => !line.startsWith('#') && line.includes(`backend="${backend}"`));

test('the per-server series of a server removed from its pool leave /metrics; those of the servers that stay remain', { timeout: 30_000 }, async (t) => {
  const [stays, goes] = [await namedBackend(t, 'stays'), await namedBackend(t, 'goes')];
  const lb = await startLb(t, config([stays.url, goes.url]));
  const goneId = `127.0.0.1:${goes.port}`;
  const staysId = `127.0.0.1:${stays.port}`;
  await eventually(async () => ((await seriesOf(lb.url('admin'), goneId)).some((l) => l.startsWith('lb_health_checks_total')) ? true : undefined), 'health checks of the server to be counted');

  await lb.reload(parseConfig(config([stays.url]), 'test.yaml'));
  await eventually(async () => ((await seriesOf(lb.url('admin'), goneId)).length === 0 ? true : undefined), 'the removed server\'s series to leave /metrics');
  assert.ok((await seriesOf(lb.url('admin'), staysId)).some((l) => l.startsWith('lb_health_checks_total{')), 'the server that stays keeps its series');
});
