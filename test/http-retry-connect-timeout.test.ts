// A connect timeout means the request never reached the server: it is retried on another server
// whatever its method, a POST included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';
import { serviceConfig } from './helpers/service-config.js';
import { unacceptingPort } from './helpers/unaccepting-server.js';

test('a POST whose server does not accept in time goes to another server', async (t) => {
  const live = await namedBackend(t, 'live');
  const dead = `http://127.0.0.1:${await unacceptingPort(t)}`;
  const lb = await startLb(t, serviceConfig(`{ timeouts: { connect: 200ms }, retries: 1, retryBudget: 100, servers: [ { url: "${dead}" }, { url: "${live.url}" } ] }`));
  for (let i = 0; i < 4; i++) {
    const res = await request(lb.url('web'), { method: 'POST', body: 'order', headersTimeout: 10_000 });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'live');
  }
  const retried = /^lb_retries_total\{service="svc",reason="connect_timeout"\} (\d+)$/m.exec(await lb.metrics.registry.metrics());
  assert.ok(Number(retried?.[1]) >= 1, 'the retries count under reason connect_timeout');
});
