import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(20);
  }
}

test('a client that aborts mid-upload aborts the upstream request and leaks nothing', async (t) => {
  let upstreamAborted = 0;
  let requestsSeen = 0;
  const backend = await startBackend(t, (req, res) => {
    requestsSeen++;
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('aborted', () => upstreamAborted++);
    req.on('end', () => res.end('done'));
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const baseline = await backend.connections();
  const listenersBefore = process.listenerCount('warning');

  for (let round = 0; round < 5; round++) {
    const socket = connect(lb.port('web'), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n');
    socket.write(Buffer.alloc(64 * 1024, 1));
    await waitFor(() => requestsSeen > round, 'the backend to see the request');
    socket.destroy();
  }
  await waitFor(() => upstreamAborted === 5, 'the backend to see all five requests aborted');
  const service = lb.control.snapshot.services.get('svc')!;
  await waitFor(() => service.backends[0]!.inFlight === 0, 'in-flight count back to zero');
  // Aborted upstream requests must not leave sockets behind: back to the keep-alive baseline.
  await waitFor(async () => (await backend.connections()) <= Math.max(baseline, 1), 'backend sockets back to baseline');
  assert.equal(process.listenerCount('warning'), listenersBefore);
});

test('a client that gives up waiting for a slow response aborts the upstream request', async (t) => {
  let closedEarly = 0;
  const backend = await startBackend(t, (_req, res) => {
    const timer = setTimeout(() => res.end('late'), 10_000);
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) closedEarly++;
    });
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const socket = connect(lb.port('web'), '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(async () => (await backend.connections()) === 1, 'the request to reach the backend');
  socket.destroy();
  await waitFor(() => closedEarly === 1, 'the upstream request to be aborted');
  await waitFor(async () => (await backend.connections()) === 0, 'the upstream socket to close');
  assert.equal(lb.control.snapshot.services.get('svc')!.backends[0]!.inFlight, 0);
});
