import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// minRequestBodyRate: an upload that trickles (each pause shorter than timeouts.requestBody) but
// is slower on average than the minimum, once the grace period is over, gets 408, whether lb reads
// the body first or streams it; an upload at a decent rate is not cut, however long it takes.

async function upload(port: number, path: string, length: number, bytesPerTick: number, tickMs: number): Promise<{ status: number | undefined; ms: number; text: string }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const started = performance.now();
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`);
  let sent = 0;
  const timer = setInterval(() => {
    if (text.includes('\r\n\r\n') || sent >= length) return clearInterval(timer);
    const n = Math.min(bytesPerTick, length - sent);
    socket.write('x'.repeat(n));
    sent += n;
  }, tickMs);
  try {
    await eventually(() => (text.includes('\r\n\r\n') ? true : undefined), `an answer to the upload to ${path}`, 20_000);
    return { status: statusOf(text), ms: performance.now() - started, text };
  } finally {
    clearInterval(timer);
    socket.destroy();
    await closed;
  }
}

test('an upload slower than minRequestBodyRate gets 408 after the grace period; one at a good rate completes', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(`got ${bytes}`));
  });
  const lb = await startLb(t, lbYaml(`
routers:
  buffered: { entrypoint: web, match: { pathPrefix: /buffered }, service: buffered }
  streamed: { entrypoint: web, match: { pathPrefix: /streamed }, service: streamed }
services:
  buffered: { timeouts: { responseHeaders: 20s }, servers: [ { url: "${backend.url}" } ] }
  streamed: { timeouts: { responseHeaders: 20s }, retries: 0, servers: [ { url: "${backend.url}" } ] }
`, { web: 'timeouts: { requestBody: 10s }, minRequestBodyRate: { bytesPerSecond: 1000, grace: 1s }' }));
  for (const path of ['/buffered', '/streamed']) {
    // 10 bytes every 100 ms: 100 B/s, each pause far under timeouts.requestBody (10 s).
    const slow = await upload(lb.port('web'), path, 5_000, 10, 100);
    assert.equal(slow.status, 408, `${path}: ${slow.text.slice(0, 200)}`);
    assert.match(slow.text, /lb-error: LB_CLIENT_BODY_TIMEOUT/i);
    assert.ok(slow.ms >= 900 && slow.ms < 3_000, `${path}: answered after ${slow.ms.toFixed(0)} ms; the grace is 1 s, the pause limit 10 s`);
    // 200 bytes every 50 ms: 4,000 B/s for 1.5 s, past the grace period.
    const good = await upload(lb.port('web'), path, 6_000, 200, 50);
    assert.equal(good.status, 200, `${path}: ${good.text.slice(0, 200)}`);
    assert.match(good.text, /got 6000$/);
    assert.ok(good.ms > 1_000, `${path}: the good upload took ${good.ms.toFixed(0)} ms, longer than the grace period`);
  }
});
