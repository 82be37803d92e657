import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { spawnLb } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';

// Slowloris: 1,000 connections that drip their request head a byte every 500 ms. timeouts.
// requestHeaders is a deadline for the whole head, not an idle timer that each byte resets, so
// every dripping connection is closed at it (408 or a close), while another client's requests
// keep being served quickly. Run against the built CLI, as users run it.

const drippers = 1_000;
const headersTimeoutMs = 3_000;

test('1,000 connections dripping their head are closed at timeouts.requestHeaders, and other clients stay fast', { timeout: 90_000 }, async (t) => {
  const backend = await namedBackend(t, 'ok');
  const lb = await spawnLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: `timeouts: { requestHeaders: ${headersTimeoutMs}ms }` }));
  const port = lb.port('web');
  const head = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200));
  const closedAt: number[] = [];
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  const started = performance.now();
  for (let i = 0; i < drippers; i++) {
    const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 200)}` });
    let sent = 0;
    const drip = setInterval(() => {
      if (socket.destroyed || sent >= head.length) return clearInterval(drip);
      socket.write(head.subarray(sent, ++sent));
    }, 500);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(drip);
      closedAt.push(performance.now() - started);
    });
    sockets.push(socket);
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  // Probes from another client while the drippers hold their connections.
  const latencies: number[] = [];
  while (performance.now() - started < headersTimeoutMs - 500) {
    const sent = performance.now();
    const res = await request(`http://127.0.0.1:${port}/`, { headersTimeout: 5_000 });
    assert.equal(await res.body.text(), 'ok');
    latencies.push(performance.now() - sent);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  // Every dripper is closed at the deadline: after it, and well before its head could be done (100 s).
  const deadline = performance.now() + headersTimeoutMs + 10_000;
  while (closedAt.length < drippers && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.diagnostic(`${latencies.length} probes during the drip: p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ${closedAt.length} drippers closed, the first at ${Math.min(...closedAt).toFixed(0)} ms, the last at ${Math.max(...closedAt).toFixed(0)} ms`);
  assert.equal(closedAt.length, drippers, 'every dripping connection was closed');
  assert.ok(Math.min(...closedAt) >= headersTimeoutMs - 200, 'none before its deadline');
  assert.ok(Math.max(...closedAt) <= headersTimeoutMs + 2_500, 'all within moments of it, though each kept sending');
  assert.ok(p99 < 100, `probe p99 ${p99.toFixed(1)} ms`);
});
