import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { closedPort, namedBackend } from './helpers/servers.js';

test('a request through a weighted service is retried on another server of the service it chose, with that service\'s retry settings', { timeout: 60_000 }, async (t) => {
  const v1 = await namedBackend(t, 'v1');
  const v2 = await namedBackend(t, 'v2');
  const refused = await closedPort();
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services:
  app: { weighted: { services: [ { name: app-v1, weight: 1 }, { name: app-v2, weight: 1 } ] } }
  app-v1: { retries: 1, retryBudget: 100, servers: [ { url: "http://127.0.0.1:${refused}" }, { url: "${v1.url}" } ] }
  app-v2: { retries: 0, servers: [ { url: "${v2.url}" } ] }
`));
  const answers = [];
  for (let i = 0; i < 20; i++) {
    const res = await request(`${lb.url('web')}/`);
    answers.push(`${res.statusCode} ${await res.body.text()}`);
  }
  assert.deepEqual(answers.sort(), [...Array(10).fill('200 v1'), ...Array(10).fill('200 v2')]);
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_retries_total\{service="app-v1",reason="connect_refused"\} [1-9]\d*$/m);
  assert.doesNotMatch(metrics, /^lb_retries_total\{service="app"/m);
});
