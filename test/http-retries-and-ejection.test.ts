import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb, usableServers } from './helpers/lb.js';
import { closedPort, namedBackend, startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

function twoServers(dead: number, alive: string, settings: string) {
  return lbYaml(`
routers: { all: { entrypoint: web, service: svc } }
services: { svc: { ${settings} servers: [ { url: "http://127.0.0.1:${dead}" }, { url: "${alive}" } ] } }
`);
}

test('a refused connect is retried on another server, then the dead server is ejected', async (t) => {
  const alive = await namedBackend(t, 'alive');
  const lb = await startLb(t, twoServers(await closedPort(), alive.url, 'retryBudget: 100,'));
  for (let i = 0; i < 20; i++) {
    const res = await request(lb.url('web'), { method: i % 2 ? 'GET' : 'POST', body: i % 2 ? null : 'small body' });
    assert.equal(`${res.statusCode} ${await res.body.text()}`, '200 alive', `request ${i}`);
  }
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_retries_total\{service="svc",reason="connect_refused"\} 5$/m, 'five failures in a row, then ejection');
  assert.match(metrics, /^lb_backend_ejections_total\{service="svc",backend="127\.0\.0\.1:\d+"\} 1$/m);
  assert.match(metrics, /^lb_backend_up\{service="svc",backend="127\.0\.0\.1:\d+"\} 0$/m);
});

test('an idempotent request that loses its connection before a response is retried; a POST is not', async (t) => {
  let resets = 0;
  const flaky = await startBackend(t, (req, res) => {
    req.resume();
    if (req.url === '/reset') {
      resets++;
      return void req.socket.destroy();
    }
    res.end('flaky');
  });
  const alive = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('alive'));
  });
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: svc } }
services: { svc: { balancer: round_robin, retryBudget: 100, retryBufferBytes: 0, servers: [ { url: "${flaky.url}" }, { url: "${alive.url}" } ] } }
`));
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await request(`${lb.url('web')}/reset`, { method: 'GET' });
    outcomes.push(`${res.statusCode} ${await res.body.text()}`);
  }
  assert.deepEqual(outcomes, ['200 alive', '200 alive', '200 alive', '200 alive']);
  // A POST whose body was already streamed to the server that reset is answered 502.
  let post = '';
  for (let i = 0; i < 2 && !post.startsWith('502'); i++) {
    const res = await request(`${lb.url('web')}/reset`, { method: 'POST', body: 'x'.repeat(100) });
    post = `${res.statusCode}`;
    await res.body.text();
  }
  assert.equal(post, '502');
  assert.ok(resets >= 3);
});

test('a failing health endpoint takes a server out within interval × fall + interval, and rise brings it back', async (t) => {
  let healthy = true;
  const flapping = await startBackend(t, (req, res) => {
    if (req.url === '/health') {
      res.statusCode = healthy ? 200 : 500;
      return void res.end();
    }
    res.end('flapping');
  });
  const steady = await namedBackend(t, 'steady');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: svc } }
services:
  svc:
    healthCheck: { path: /health, interval: 200ms, timeout: 100ms, rise: 2, fall: 2 }
    servers: [ { url: "${flapping.url}" }, { url: "${steady.url}" } ]
`));
  const members = () => usableServers(lb, 'svc');
  const waitFor = async (count: number, limitMs: number) => {
    const started = Date.now();
    while (members() !== count) {
      if (Date.now() - started > limitMs) assert.fail(`pool did not reach ${count} members within ${limitMs}ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return Date.now() - started;
  };
  await waitFor(2, 1_000);
  await new Promise((resolve) => setTimeout(resolve, 250)); // mid-interval, like a real failure
  healthy = false;
  const out = await waitFor(1, 200 * 2 * 1.1 + 200 * 1.1 + 100);
  t.diagnostic(`out of rotation ${out} ms after the health endpoint started failing (limit ${Math.round(200 * 2 * 1.1 + 200 * 1.1)} ms)`);
  for (let i = 0; i < 4; i++) assert.equal(await (await request(lb.url('web'))).body.text(), 'steady');
  healthy = true;
  const back = await waitFor(2, 200 * 2 * 1.1 + 200 * 1.1 + 100);
  t.diagnostic(`back ${back} ms after recovering`);
});

test('panic: a pool whose servers all fail their checks still serves at the default threshold, and answers 503 at 0', async (t) => {
  let healthy = true;
  const a = await startBackend(t, (req, res) => res.writeHead(req.url === '/health' && !healthy ? 500 : 200).end('sick but serving'));
  const config = (threshold: string) => lbYaml(`
routers: { all: { entrypoint: web, service: svc } }
services:
  svc: { ${threshold} healthCheck: { path: /health, interval: 200ms, timeout: 100ms, fall: 1 }, servers: [ { url: "${a.url}" } ] }
`);
  const panicking = await startLb(t, config(''));
  const strict = await startLb(t, config('panicThreshold: 0,'));
  await eventually(() => usableServers(panicking, 'svc') === 1 && usableServers(strict, 'svc') === 1, 'the server to pass its first check');
  healthy = false;
  await eventually(() => usableServers(panicking, 'svc') === 0 && usableServers(strict, 'svc') === 0, 'no usable server in either pool');
  const res = await request(panicking.url('web'));
  assert.equal(await res.body.text(), 'sick but serving');
  const metrics = await (await request(`${panicking.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_service_panic\{service="svc"\} 1$/m);
  assert.match(metrics, /^lb_backend_up\{service="svc",backend="127\.0\.0\.1:\d+"\} 0$/m);
  const refused = await request(strict.url('web'));
  assert.equal(refused.statusCode, 503);
  await refused.body.text();
});
