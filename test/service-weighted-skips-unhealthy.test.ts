import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pool } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb, usableServers } from './helpers/lb.js';
import { namedBackend, startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('a weighted service skips a service with no healthy server, and comes back to it when it recovers', { timeout: 60_000 }, async (t) => {
  const v1 = await namedBackend(t, 'v1');
  let healthy = true;
  const v2 = await startBackend(t, (req, res) => {
    req.resume();
    if (req.url === '/health') res.statusCode = healthy ? 200 : 500;
    res.end('v2');
  });
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services:
  app: { weighted: { services: [ { name: app-v1, weight: 1 }, { name: app-v2, weight: 1 } ] } }
  app-v1: { servers: [ { url: "${v1.url}" } ] }
  app-v2: { healthCheck: { path: /health, interval: 100ms, rise: 1, fall: 1 }, servers: [ { url: "${v2.url}" } ] }
`));
  const pool = new Pool(lb.url('web'), { connections: 2 });
  t.after(() => pool.close());
  const split = async (requests: number) => {
    const served = new Map<string, number>();
    for (let i = 0; i < requests; i++) {
      const res = await pool.request({ path: '/', method: 'GET' });
      const body = await res.body.text();
      const key = `${res.statusCode} ${body}`;
      served.set(key, (served.get(key) ?? 0) + 1);
    }
    return Object.fromEntries(served);
  };

  await eventually(() => usableServers(lb, 'app-v2') === 1, 'app-v2 passes its first check');
  assert.deepEqual(await split(20), { '200 v1': 10, '200 v2': 10 });

  healthy = false;
  await eventually(() => usableServers(lb, 'app-v2') === 0, 'app-v2 fails its check');
  assert.deepEqual(await split(20), { '200 v1': 20 }, 'every request goes to the service that can serve it, none gets 503');

  healthy = true;
  await eventually(() => usableServers(lb, 'app-v2') === 1, 'app-v2 recovers');
  assert.deepEqual(await split(20), { '200 v1': 10, '200 v2': 10 });
});
