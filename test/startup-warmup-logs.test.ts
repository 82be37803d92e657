import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { spawnLb } from './helpers/lb-process.js';
import { closedPort, namedBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// A pool whose servers wait for their first health check is warming up, not failing: start-up
// logs no panic and no "no usable server", only each server's result. A real failure still is.

test('start-up with health-checked servers logs their results, not a panic, and an empty service waits without a warning', { timeout: 30_000 }, async (t) => {
  const up = await namedBackend(t, 'up');
  const never = await closedPort();
  const lb = await spawnLb(t, lbYaml(`
routers:
  all: { entrypoint: web, service: app }
  later: { entrypoint: web, match: { host: later.example.com }, service: later }
services:
  later: { servers: [] }
  app:
    healthCheck: { path: /, interval: 200ms, timeout: 100ms, fall: 1 }
    servers: [ { url: "${up.url}" }, { url: "http://127.0.0.1:${never}" } ]
`));
  await lb.logged('server is healthy');
  const res = await request(`http://127.0.0.1:${lb.port('web')}/`);
  assert.equal(await res.body.text(), 'up');
  const messages = lb.logs.map((l) => String(l.msg));
  assert.deepEqual(messages.filter((m) => /panic|no usable server/.test(m)), []);
  // A service that starts without servers waits for them: said, but not as a warning.
  const empty = lb.logs.filter((l) => l.msg === 'service has no servers: its requests will get 503 until one is added');
  assert.deepEqual(empty.map((l) => [l.service, l.level]), [['later', 'info']]);
  assert.equal(messages.filter((m) => m === 'server is healthy').length, 1);

  // Once the server that was healthy fails, the pool is in panic (every server that ever was
  // healthy gets traffic), and that is said.
  up.server.close();
  up.server.closeAllConnections();
  await lb.logged('server is unhealthy');
  await eventually(() => lb.logs.some((l) => String(l.msg).startsWith('panic: too few healthy servers')), 'the panic to be reported');
});
