// A connect timeout is one kind, `connect_timeout`, with one code, LB_UPSTREAM_CONNECT_TIMEOUT, on
// every path: proxied requests, upgrades and TCP tunnels.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig, startLb, type TestBalancer } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { upgradeRequest } from './helpers/upgrade-request.js';
import { unacceptingPort } from './helpers/unaccepting-server.js';
import { eventually } from './helpers/wait.js';

test('a server that does not accept within timeouts.connect gives connect_timeout, for requests, upgrades and TCP tunnels', async (t) => {
  const port = await unacceptingPort(t);
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`, 'timeouts: { connect: 200ms },'));
  const tcp = await startLb(t, `
entrypoints: { db: { address: "127.0.0.1:0", protocol: tcp } }
admin: { address: "127.0.0.1:0" }
routers: { db: { entrypoint: db, service: db } }
services: { db: { timeouts: { connect: 200ms }, servers: [ { address: "127.0.0.1:${port}" } ] } }
`);
  const res = await request(lb.url('web'), { headersTimeout: 10_000 });
  await res.body.dump();
  assert.equal(res.statusCode, 504);
  assert.equal(res.headers['lb-error'], 'LB_UPSTREAM_CONNECT_TIMEOUT', 'a proxied request');

  const { text } = await rawRequest(lb.port('web'), upgradeRequest(), 10_000);
  assert.equal(statusOf(text), 504);
  assert.match(text, /lb-error: LB_UPSTREAM_CONNECT_TIMEOUT/, 'an upgrade');

  const tunnel = connect(tcp.port('db'), '127.0.0.1');
  tunnel.on('error', () => undefined);
  t.after(() => tunnel.destroy());
  const count = async (balancer: TestBalancer, service: string, kind: string) => {
    const text = await balancer.metrics.registry.metrics();
    return Number(new RegExp(`^lb_http_errors_total\\{service="${service}",kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  await eventually(async () => (await count(tcp, 'db', 'connect_timeout')) === 1, 'the TCP tunnel to count a connect_timeout');
  assert.equal(await count(lb, 'svc', 'connect_timeout'), 2, 'the request and the upgrade');
});
