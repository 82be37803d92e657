// inFlightReq: a client that leaves while lb is still reading its request body (read whole first,
// for retries) frees its slot at once, on every request path; its request is logged as a 499.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { h2Session } from './helpers/h2-clients.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('a client that leaves in the middle of its body frees its inFlightReq slot, on the fast path, Node\'s parser and HTTP/2', { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(t, lbYaml(`
middlewares:
  one-at-a-time: { inFlightReq: { amount: 1 } }
routers: { app: { entrypoint: web, middlewares: [one-at-a-time], service: svc } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'http2: { cleartext: true }' }));
  const port = lb.port('web');
  const leaves = async (head: string) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head}Content-Length: 100\r\n\r\nhalf a body`));
    socket.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();
  };
  // An absolute-form target is valid HTTP/1.1 that the fast path leaves to Node's parser.
  for (const [path, head] of [['fast path', 'POST / HTTP/1.1\r\nHost: a\r\n'], ['Node\'s parser', 'POST http://a/ HTTP/1.1\r\nHost: a\r\n']] as const) {
    await leaves(head);
    await eventually(async () => ((await exchange(port, { path: '/' })).status === 200 ? true : undefined), `${path}: the slot to be free again`, 3_000);
  }
  const session = h2Session(t, lb.url('web'));
  const stream = session.request({ ':method': 'POST', ':path': '/', 'content-length': '100' });
  stream.on('error', () => undefined);
  stream.write('half a body');
  await new Promise((resolve) => setTimeout(resolve, 300));
  stream.close();
  await eventually(async () => ((await exchange(port, { path: '/' })).status === 200 ? true : undefined), 'HTTP/2: the slot to be free again', 3_000);
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  assert.match(metrics, /^lb_http_requests_total\{[^}]*code="499"[^}]*\} [3-9]/m, 'each left request is counted as a 499');
});
