// A TCP tunnel whose first server never accepts is dialled to another server: nothing reached the
// first one, as with a refused connection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startTcpServer } from './helpers/servers.js';
import { unacceptingPort } from './helpers/unaccepting-server.js';
import { within } from './helpers/wait.js';

test('a TCP tunnel goes to another server when the first one does not accept within timeouts.connect', { timeout: 20_000 }, async (t) => {
  const silent = await unacceptingPort(t);
  const echo = await startTcpServer(t, (socket) => socket.pipe(socket));
  // round_robin starts at the first server listed: the one that never accepts.
  const lb = await startLb(t, lbYaml(`
routers: { db: { entrypoint: db, service: db } }
services: { db: { timeouts: { connect: 200ms }, servers: [ { address: "127.0.0.1:${silent}" }, { address: "127.0.0.1:${echo.port}" } ] } }
`, { web: false, entrypoints: { db: 'protocol: tcp' } }));
  const client = connect(lb.port('db'), '127.0.0.1');
  t.after(() => client.destroy());
  client.on('error', () => undefined);
  await once(client, 'connect');
  client.write('ping');
  const [reply] = (await within(once(client, 'data'), 'the echo through the second server', 5_000)) as [Buffer];
  assert.equal(reply.toString(), 'ping');
  const metrics = await lb.metrics.registry.metrics();
  assert.match(metrics, /^lb_http_errors_total\{service="db",kind="connect_timeout"\} 1$/m, 'the first server timed out');
});
