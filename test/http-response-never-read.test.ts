import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// A client that asks for a large response and never reads it. lb stops reading the server once the
// client's socket is full, so what the client leaves unread stays within the sockets' buffers; after
// the entrypoint's timeouts.idle without progress, both connections are closed, the error is the
// client's (LB_CLIENT_READ_TIMEOUT, termination cD), and the server is not blamed.

const TOTAL_BYTES = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** Writes `total` bytes as fast as the connection takes them; `onWrite` counts what was written. */
function writeBody(res: ServerResponse, total: number, onWrite: (bytes: number) => void = () => undefined): void {
  res.writeHead(200, { 'content-length': total });
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += CHUNK.length;
      onWrite(CHUNK.length);
      if (!res.write(CHUNK)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

test('a response the client never reads is held to the sockets\' buffers, and both connections close at timeouts.idle; the server is not blamed', { timeout: 60_000 }, async (t) => {
  let written = 0;
  let serverSideClosed = false;
  const backend = await startBackend(t, (req, res) => {
    if (req.url !== '/big') return void res.end('small');
    req.socket.once('close', () => (serverSideClosed = true));
    writeBody(res, TOTAL_BYTES, (bytes) => (written += bytes));
  });
  // The service's own body-stall deadline is far away: only the client's may end this exchange.
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { timeouts: { idle: 30s }, retries: 0, outlierDetection: { consecutiveFailures: 1 }, servers: [ { url: "${backend.url}" } ] } }
`, { web: 'timeouts: { idle: 1s }' }));

  const client = connect(lb.port('web'), '127.0.0.1');
  t.after(() => client.destroy());
  client.pause();
  let clientEnded = false;
  client.once('end', () => (clientEnded = true));
  client.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  const started = performance.now();

  // The server writes until every buffer on the way is full, then waits.
  let settled = -1;
  await eventually(async () => {
    const before = written;
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (written > 0 && written === before) settled = written;
    return settled > 0 || undefined;
  }, 'the server to stop being able to write', 10_000);
  assert.ok(settled < 64 * 1024 * 1024, `the server wrote ${(settled / 2 ** 20).toFixed(1)} MiB into a response nobody reads; lb must hold no more than its sockets' buffers`);

  await eventually(() => serverSideClosed || undefined, 'lb to close the server connection', 10_000);
  const ms = performance.now() - started;
  assert.ok(ms >= 900 && ms < 5_000, `the server connection closed after ${ms.toFixed(0)} ms; the entrypoint's timeouts.idle is 1 s (the service's 30 s)`);

  // What lb had sent stays readable; then the connection ends short of the Content-Length.
  let received = 0;
  client.on('data', (chunk: Buffer) => (received += chunk.length));
  client.resume();
  await eventually(() => clientEnded || undefined, 'the client connection to end', 10_000);
  assert.ok(received > 0 && received < TOTAL_BYTES, `the client read ${received} bytes of a ${TOTAL_BYTES}-byte body before the cut`);

  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_http_errors_total\{service="app",kind="response_read_timeout"\} 1$/m);
  assert.doesNotMatch(metrics, /^lb_backend_ejections_total\{[^}]*\} [1-9]/m, 'one failure would eject the server; this one is not its fault');
  const next = await request(`${lb.url('web')}/small`);
  assert.equal(await next.body.text(), 'small');
});

test('a client that reads slowly but keeps reading gets the whole response, however long it takes', { timeout: 60_000 }, async (t) => {
  const total = 8 * 1024 * 1024;
  const backend = await startBackend(t, (_req, res) => writeBody(res, total));
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { retries: 0, servers: [ { url: "${backend.url}" } ] } }
`, { web: 'timeouts: { idle: 1s }' }));
  const client = connect(lb.port('web'), '127.0.0.1');
  t.after(() => client.destroy());
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  // Reads in bursts with 250 ms pauses (each well under timeouts.idle): about 2 s in all, twice the deadline.
  let received = 0;
  let headSeen = false;
  const done = new Promise<void>((resolve, reject) => {
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (!headSeen && chunk.includes('\r\n\r\n')) headSeen = true;
      if (received >= total) resolve();
      client.pause();
      setTimeout(() => client.resume(), received % (1024 * 1024) < chunk.length ? 250 : 0);
    });
    client.once('close', () => (received >= total ? resolve() : reject(new Error(`closed after ${received} bytes`))));
  });
  const started = performance.now();
  await done;
  assert.ok(headSeen);
  assert.ok(received >= total, `received ${received}`);
  assert.ok(performance.now() - started > 1_000, 'the reading took longer than timeouts.idle');
});
