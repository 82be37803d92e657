import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backend } from '../src/balancer/index.js';
import { normaliseService } from '../src/config/normalise.js';
import { serviceSchema } from '../src/config/schema.js';
import { probe } from '../src/health/checker.js';
import { closedPort, startBackend, startTcpServer } from './helpers/servers.js';

/** A health check written as in lb.yaml, checked and normalised as lb does. */
function target(port: number, check: Record<string, unknown>) {
  const problems: unknown[] = [];
  const settings = serviceSchema({ healthCheck: check }, [], []);
  assert.ok(settings, `invalid check ${JSON.stringify(check)}`);
  const config = normaliseService('s', 'http', settings, [], (path, message) => problems.push({ path, message }));
  assert.deepEqual(problems, []);
  return { service: 's', backend: new Backend({ scheme: 'http', host: '127.0.0.1', port, weight: 1 }), check: config.healthCheck!, tls: config.tls, http2: config.http2 };
}

test('HTTP checks: path, Host, headers, another port, and accepted statuses', async (t) => {
  const seen: Array<Record<string, unknown>> = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push({ url: req.url, host: req.headers.host, token: req.headers['x-token'] });
    res.writeHead(req.url === '/teapot' ? 418 : 204).end();
  });
  assert.equal(await probe(target(backend.port, { path: '/health', host: 'app.example.com', headers: { 'X-Token': 'secret' } })), 'HTTP 204');
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
  await assert.rejects(probe(target(silent.port, { path: '/', interval: '10s', timeout: '150ms' })), /no answer within 150ms/);
  assert.ok(Date.now() - started < 3_000, 'the check gives up at its timeout, not at the interval');
});

test('TCP checks: connect, or send a payload and expect a reply', async (t) => {
  const redisLike = await startTcpServer(t, (socket) => socket.on('data', (d: Buffer) => socket.write(d.toString().startsWith('PING') ? '+PONG\r\n' : '-ERR\r\n')));
  assert.equal(await probe(target(redisLike.port, { type: 'tcp' })), 'TCP connect');
  assert.equal(await probe(target(redisLike.port, { type: 'tcp', send: 'PING\r\n', expect: '+PONG' })), 'TCP reply contains "+PONG"');
  await assert.rejects(probe(target(redisLike.port, { type: 'tcp', send: 'HELLO\r\n', expect: '+PONG', interval: '1s', timeout: '200ms' })), /no expected reply within 200ms/);
  await assert.rejects(probe(target(await closedPort(), { type: 'tcp' })), /ECONNREFUSED/);
});
