import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';


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
    await eventually(() => requestsSeen > round, 'the backend to see the request', 5_000);
    socket.destroy();
  }
  await eventually(() => upstreamAborted === 5, 'the backend to see all five requests aborted', 5_000);
  const service = lb.control.snapshot.services.get('svc')!;
  await eventually(() => service.backends[0]!.inFlight === 0, 'in-flight count back to zero', 5_000);
  // Aborted upstream requests must not leave sockets behind: back to the keep-alive baseline.
  await eventually(async () => (await backend.connections()) <= Math.max(baseline, 1), 'backend sockets back to baseline', 5_000);
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
  await eventually(async () => (await backend.connections()) === 1, 'the request to reach the backend', 5_000);
  socket.destroy();
  await eventually(() => closedEarly === 1, 'the upstream request to be aborted', 5_000);
  await eventually(async () => (await backend.connections()) === 0, 'the upstream socket to close', 5_000);
  assert.equal(lb.control.snapshot.services.get('svc')!.backends[0]!.inFlight, 0);
});
