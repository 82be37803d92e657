import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backend } from '../src/balancer/index.js';
import { resilience } from '../src/config/load.js';
import { probe } from '../src/health/checker.js';
import { closedPort, startBackend, startTcpServer } from './helpers/servers.js';

function target(port: number, check: Parameters<typeof resilience>[0]['healthCheck']) {
  const config = resilience({ healthCheck: check }, 'http').healthCheck!;
  return { service: 's', backend: new Backend({ scheme: 'http', host: '127.0.0.1', port, weight: 1 }), check: config };
}

test('HTTP checks: path, Host, headers, another port, and accepted statuses', async (t) => {
  const seen: Array<Record<string, unknown>> = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push({ url: req.url, host: req.headers.host, token: req.headers['x-token'] });
    res.writeHead(req.url === '/teapot' ? 418 : 204).end();
  });
  assert.equal(await probe(target(backend.port, { path: '/health', host: 'app.example.com', headers: new Map([['X-Token', 'secret']]) })), 'HTTP 204');
  assert.deepEqual(seen[0], { url: '/health', host: 'app.example.com', token: 'secret' });
  await assert.rejects(probe(target(backend.port, { path: '/teapot' })), /HTTP 418, expected 200-399/);
  assert.equal(await probe(target(backend.port, { path: '/teapot', expectStatus: ['200', '418'] })), 'HTTP 418');
  const traffic = await closedPort();
  assert.equal(await probe(target(traffic, { path: '/x', port: backend.port })), 'HTTP 204', 'the check port differs from the traffic port');
});

test('HTTP checks fail on refusal and on timeout', async (t) => {
  await assert.rejects(probe(target(await closedPort(), { path: '/' })), /ECONNREFUSED/);
  const silent = await startBackend(t, () => undefined);
  const started = Date.now();
  await assert.rejects(probe(target(silent.port, { path: '/', interval: 10_000, timeout: 150 })), /no answer within 150ms/);
  assert.ok(Date.now() - started < 3_000, 'the check gives up at its timeout, not at the interval');
});

test('TCP checks: connect, or send a payload and expect a reply', async (t) => {
  const redisLike = await startTcpServer(t, (socket) => socket.on('data', (d: Buffer) => socket.write(d.toString().startsWith('PING') ? '+PONG\r\n' : '-ERR\r\n')));
  assert.equal(await probe(target(redisLike.port, { type: 'tcp' })), 'TCP connect');
  assert.equal(await probe(target(redisLike.port, { type: 'tcp', send: 'PING\r\n', expect: '+PONG' })), 'TCP reply contains "+PONG"');
  await assert.rejects(probe(target(redisLike.port, { type: 'tcp', send: 'HELLO\r\n', expect: '+PONG', interval: 1000, timeout: 200 })), /no expected reply within 200ms/);
  await assert.rejects(probe(target(await closedPort(), { type: 'tcp' })), /ECONNREFUSED/);
});
