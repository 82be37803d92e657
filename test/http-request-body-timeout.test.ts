import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// timeouts.requestBody: the longest pause a client may make in its request body. One that pauses
// longer gets 408 (LB_CLIENT_BODY_TIMEOUT), the request to the server is aborted, and the server
// is not blamed; an upload that keeps moving is not cut, however long it takes in all.

test('a client that stalls its upload gets 408 at timeouts.requestBody, read first or streamed; the server is not blamed', { timeout: 30_000 }, async (t) => {
  const seen = new Map<string, number>();
  let streamedConnectionClosed = false;
  const backend = await startBackend(t, (req, res) => {
    req.on('data', (chunk: Buffer) => seen.set(req.url!, (seen.get(req.url!) ?? 0) + chunk.length));
    req.on('end', () => res.end('complete'));
    if (req.url === '/streamed') req.socket.once('close', () => (streamedConnectionClosed = true));
  });
  // /buffered: a small body is read whole first (for retries); /streamed (retries: 0) goes to the server as it comes.
  const lb = await startLb(t, lbYaml(`
routers:
  buffered: { entrypoint: web, match: { pathPrefix: /buffered }, service: buffered }
  streamed: { entrypoint: web, match: { pathPrefix: /streamed }, service: streamed }
services:
  buffered: { timeouts: { responseHeaders: 10s }, outlierDetection: { consecutiveFailures: 1 }, servers: [ { url: "${backend.url}" } ] }
  streamed: { timeouts: { responseHeaders: 10s }, retries: 0, outlierDetection: { consecutiveFailures: 1 }, servers: [ { url: "${backend.url}" } ] }
`, { web: 'timeouts: { requestBody: 500ms }' }));
  for (const path of ['/buffered', '/streamed']) {
    const socket = connect(lb.port('web'), '127.0.0.1', () => socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789`));
    t.after(() => socket.destroy());
    let text = '';
    let closed = false;
    socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    socket.once('close', () => (closed = true));
    const started = performance.now();
    await eventually(() => (text.includes('\r\n\r\n') ? true : undefined), `an answer to the stalled upload to ${path}`);
    const ms = performance.now() - started;
    assert.equal(statusOf(text), 408, path);
    assert.match(text, /lb-error: LB_CLIENT_BODY_TIMEOUT/i);
    assert.match(text, /\r\nconnection: close\r\n/i, 'the unread rest of the body ends the connection');
    assert.ok(ms >= 450 && ms < 3_000, `${path}: answered after ${ms.toFixed(0)} ms; timeouts.requestBody is 500 ms (responseHeaders 10 s)`);
    await eventually(() => closed || undefined, `${path}: the client connection to close`);
  }
  assert.equal(seen.get('/buffered'), undefined, 'a body read first never reached the server');
  assert.equal(seen.get('/streamed'), 10);
  await eventually(() => streamedConnectionClosed || undefined, 'the streamed request to the server to be aborted');
  // Not the server's fault: it stays in both pools (one failure would eject it).
  for (const path of ['/buffered', '/streamed']) {
    const ok = await request(`${lb.url('web')}${path}`, { method: 'POST', body: 'small' });
    assert.equal(await ok.body.text(), 'complete', path);
  }
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.doesNotMatch(metrics, /^lb_backend_ejections_total\{[^}]*\} [1-9]/m);
  assert.match(metrics, /^lb_http_errors_total\{service="buffered",kind="request_body_timeout"\} 1$/m);
  assert.match(metrics, /^lb_http_errors_total\{service="streamed",kind="request_body_timeout"\} 1$/m);
});

test('an upload that keeps moving takes as long as it needs, and the response head waits for its end', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => setTimeout(() => res.end(`got ${bytes}`), 300));
  });
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { timeouts: { responseHeaders: 1s }, retries: 0, servers: [ { url: "${backend.url}" } ] } }
`, { web: 'timeouts: { requestBody: 400ms }' }));
  const socket = connect(lb.port('web'), '127.0.0.1', () => socket.write('PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n'));
  t.after(() => socket.destroy());
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  // 12 bytes, one every 250 ms: 3 s in all, three times responseHeaders, each pause under requestBody.
  for (let i = 0; i < 12; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    socket.write('x');
  }
  await eventually(() => (text.endsWith('got 12') ? true : undefined), 'the answer');
  assert.equal(statusOf(text), 200);
});
