import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { request } from 'undici';
import { spawnLb } from './helpers/lb-process.js';
import { startLoad } from './helpers/load.js';
import { namedBackend, startBackend, type TestBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

const patterns: Array<Record<string, number>> = [
  { a: 1 },
  { a: 1, b: 1 },
  { a: 3, b: 1 },
  { b: 1, c: 2 },
  { a: 1, b: 1, c: 1 },
  { c: 1 },
  { a: 2, c: 1 },
];

function config(step: number, backends: Record<string, TestBackend>, webPort: number, adminPort: number): string {
  const weights = patterns[step % patterns.length]!;
  const servers = Object.entries(weights).map(([name, weight]) => `{ url: "${backends[name]!.url}", weight: ${weight} }`).join(', ');
  return `
entrypoints: { web: { address: "127.0.0.1:${webPort}" } }
admin: { address: "127.0.0.1:${adminPort}" }
routers:
  app: { entrypoint: web, match: { host: "app.example.com" }, service: app }
  step${step}: { entrypoint: web, match: { host: "step${step}.example.com" }, service: app }
services:
  app: { servers: [ ${servers} ] }
`;
}

async function reloads(adminPort: number, result: 'success' | 'error'): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
  return Number(new RegExp(`^lb_config_reloads_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

test('20 rewrites of lb.yaml under load: no failed request, and traffic follows the new weights', { timeout: 120_000 }, async (t) => {
  // Each backend counts what it serves: the whole traffic, load included, must follow the weights.
  const served = new Map<string, number>();
  const counting = (name: string) =>
    startBackend(t, (req, res) => {
      served.set(name, (served.get(name) ?? 0) + 1);
      req.resume();
      req.on('end', () => res.end(name));
    });
  const backends = Object.fromEntries(await Promise.all(['a', 'b', 'c'].map(async (n) => [n, await counting(n)] as const)));
  // Fixed ports, so that every rewrite keeps the same listeners.
  const lb0 = await spawnLb(t, config(0, backends, 0, 0));
  const [webPort, adminPort] = [lb0.port('web'), lb0.port('admin')];
  lb0.child.kill('SIGKILL');
  await lb0.exited;
  const lb = await spawnLb(t, config(0, backends, webPort, adminPort));
  const web = `http://127.0.0.1:${webPort}`;

  const stop = new AbortController();
  const load = startLoad({ url: web, host: 'app.example.com', connections: 8, maxMs: 100_000, withPosts: true, signal: stop.signal });
  for (let step = 1; step <= 20; step++) {
    const text = config(step, backends, webPort, adminPort);
    // Half the rewrites replace the file by rename, as editors and config management do.
    if (step % 2) {
      writeFileSync(`${lb.configPath}.tmp`, text);
      renameSync(`${lb.configPath}.tmp`, lb.configPath);
    } else {
      writeFileSync(lb.configPath, text);
    }
    await eventually(async () => (await reloads(adminPort, 'success')) >= step + 1, `rewrite ${step} to be applied`);
    // Requests sent before the reload may have been routed by the old file: let them finish.
    const sentBefore = load.progress.requests;
    await eventually(() => (load.oldestPending() ?? Infinity) > sentBefore, `the requests sent before rewrite ${step} to finish`);
    // A window of at least 200 requests, however long the machine needs for them.
    served.clear();
    const count = () => [...served.values()].reduce((sum, n) => sum + n, 0);
    await eventually(() => count() >= 200, `step ${step}: 200 requests`, 20_000);
    const seen = new Map(served);
    const samples = count();
    const weights = patterns[step % patterns.length]!;
    const total = Object.values(weights).reduce((sum, w) => sum + w, 0);
    for (const [name, weight] of Object.entries(weights)) {
      const share = (seen.get(name) ?? 0) / samples;
      assert.ok(Math.abs(share - weight / total) <= 0.05, `step ${step}: ${name} got ${share.toFixed(3)}, weight share ${(weight / total).toFixed(3)} (${JSON.stringify([...seen])})`);
    }
    for (const name of seen.keys()) assert.ok(name in weights, `step ${step}: ${name} was removed but still got traffic`);
    assert.equal((await request(web, { headers: { host: `step${step}.example.com` } })).statusCode, 200);
    const removed = await request(web, { headers: { host: `step${step - 1}.example.com` } });
    await removed.body.text();
    assert.equal(removed.statusCode, 404, `router step${step - 1} should be gone`);
  }
  stop.abort();
  const result = await load.done;
  t.diagnostic(`${result.requests} requests during 20 reloads, ${result.ok} 2xx, failures: ${JSON.stringify([...result.failures])}`);
  assert.deepEqual([...result.failures], []);

  // An invalid file is rejected with file:line errors; the running configuration stays.
  writeFileSync(lb.configPath, config(20, backends, webPort, adminPort).replace('services:', 'services:\n  broken: { balancer: fastest }'));
  await eventually(async () => (await reloads(adminPort, 'error')) >= 1, 'the invalid rewrite to be reported');
  const rejection = lb.logs.find((l) => String(l.msg).startsWith('reload rejected'));
  assert.match(String(rejection?.msg), new RegExp(`${lb.configPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: services\\.broken\\.balancer: must be one of`));
  assert.equal((await request(web, { headers: { host: 'step20.example.com' } })).statusCode, 200);

  // Mended, the file is applied, and the log says that the rejection is over.
  writeFileSync(lb.configPath, config(20, backends, webPort, adminPort).replace('services:', 'services:\n  broken: { balancer: random }'));
  await eventually(() => lb.logs.some((l) => l.msg === 'the configuration is valid again, and applied'), 'the mended file to be reported valid');
  assert.equal(lb.logs.filter((l) => l.msg === 'the configuration is valid again, and applied').length, 1);
});

test('SIGHUP reloads too, and an unchanged listener keeps its open connections', { timeout: 60_000 }, async (t) => {
  const backends = { a: await namedBackend(t, 'a'), b: await namedBackend(t, 'b'), c: await namedBackend(t, 'c') } as Record<string, TestBackend>;
  const lb = await spawnLb(t, config(0, backends, 0, 0).replace('127.0.0.1:0" } }\nadmin', '127.0.0.1:0" }, db: { address: "127.0.0.1:0", protocol: tcp } }\nadmin').replace('routers:', `routers:\n  db: { entrypoint: db, service: db }`).replace('services:', `services:\n  db: { servers: [ { address: "127.0.0.1:${backends.a.port}" } ] }`));
  const web = `http://127.0.0.1:${lb.port('web')}`;
  const { Pool } = await import('undici');
  const keepAlive = new Pool(web, { connections: 1 });
  t.after(() => keepAlive.close());
  const first = await keepAlive.request({ path: '/', method: 'GET', headers: { host: 'app.example.com' } });
  assert.equal(await first.body.text(), 'a');
  // A TCP tunnel opened before the reload must carry traffic after it.
  const { connect } = await import('node:net');
  const tunnel = connect(lb.port('db'), '127.0.0.1');
  t.after(() => tunnel.destroy());
  let tunnelText = '';
  tunnel.on('data', (chunk: Buffer) => (tunnelText += chunk.toString()));
  const askThroughTunnel = async () => {
    tunnelText = '';
    tunnel.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const until = Date.now() + 5_000;
    while (!tunnelText.endsWith('a')) {
      assert.ok(Date.now() < until, `no answer through the tunnel: ${JSON.stringify(tunnelText)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await askThroughTunnel();
  const { readFileSync } = await import('node:fs');
  writeFileSync(lb.configPath, readFileSync(lb.configPath, 'utf8').replace(/\{ url: "http:\/\/127\.0\.0\.1:\d+", weight: 1 \}/, `{ url: "${backends.b.url}", weight: 1 }`));
  lb.child.kill('SIGHUP');
  await lb.logged('configuration reloaded');
  const second = await keepAlive.request({ path: '/', method: 'GET', headers: { host: 'app.example.com' } });
  assert.equal(await second.body.text(), 'b', 'the new pool serves on the same keep-alive connection');
  await askThroughTunnel();
  assert.equal(tunnel.destroyed, false);
  assert.equal(lb.logs.filter((l) => l.msg === 'entrypoint listening').length, 2, 'no listener was reopened');
});
