// Regression tests for the known bugs of http-proxy 1.18.1 that lb works around (see
// src/proxy/http/upgrade.ts). Each would fail, hang or crash the process on plain http-proxy.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { closedPort, startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

const upgrade = (path = '/') =>
  `GET ${path} HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

test('a backend that declines the upgrade with a chunked body reaches the client well-framed', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('plain'));
  backend.server.on('upgrade', (_req, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n6\r\ndenied\r\n0\r\n\r\n');
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const { text, closed } = await rawRequest(lb.port('web'), upgrade());
  assert.equal(statusOf(text), 403);
  assert.ok(closed, 'the connection is closed after the close-delimited body');
  const [head, body] = text.split('\r\n\r\n');
  assert.doesNotMatch(head!, /transfer-encoding/i, 'the body arrives de-chunked, so the header must go');
  assert.equal(body, 'denied');
});

test('an upgrade to a backend that refuses connections gets 502, not a silent close', async (t) => {
  const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${await closedPort()}`));
  const { text } = await rawRequest(lb.port('web'), upgrade());
  assert.equal(statusOf(text), 502);
  assert.match(text, /lb-error: LB_UPSTREAM_REFUSED/);
});

test('an upgrade the backend never answers gets 504 after the response timeout', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('plain'));
  backend.server.on('upgrade', () => undefined);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'timeouts: { responseHeaders: 300ms },'));
  const { text } = await rawRequest(lb.port('web'), upgrade(), 3_000);
  assert.equal(statusOf(text), 504);
});

test('a client that resets during the handshake does not crash lb', async (t) => {
  let pending = 0;
  let destroyed = 0;
  const backend = await startBackend(t, (_req, res) => res.end('still serving'));
  backend.server.on('upgrade', (_req, socket) => {
    pending++;
    // The backend answers the handshake only after the client is gone: by closing.
    setTimeout(() => (socket.destroy(), destroyed++), 300);
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  for (let i = 0; i < 5; i++) {
    const socket = connect(lb.port('web'), '127.0.0.1', () => socket.write(upgrade()));
    socket.on('error', () => undefined);
    await eventually(() => pending > i, `upgrade ${i} to reach the backend`);
    socket.resetAndDestroy();
  }
  await eventually(() => destroyed === 5 && lb.control.snapshot.services.get('svc')!.backends[0]!.inFlight === 0, 'the backend to close all 5 handshakes, and lb to let go of them');
  const res = await request(lb.url('web'));
  assert.equal(await res.body.text(), 'still serving');
});

test('an Upgrade other than websocket passes through too', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('plain'));
  backend.server.on('upgrade', (req, socket) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`);
    socket.pipe(socket);
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const socket = connect(lb.port('web'), '127.0.0.1');
  socket.on('error', () => undefined);
  t.after(() => socket.destroy());
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.write('GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: custom-echo\r\n\r\n');
  await eventually(() => received.includes('\r\n\r\n'), 'the response head to the upgrade');
  assert.equal(statusOf(received), 101);
  socket.write('echo me');
  await eventually(() => received.endsWith('echo me'), 'the echo through the tunnel');
});
