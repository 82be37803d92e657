// The soak: lb (the built CLI, one process) under mixed load for a set time, with churn. Containers
// come and go every few seconds, lb.yaml is rewritten every 30 s (or three times in a shorter run),
// and GETs, POSTs and WebSocket exchanges run throughout. Its RSS and open file descriptors are
// taken after a warm-up, in the middle and at the end, and must stay flat; requests to the
// servers that stay must not fail.
// Usage: npm run soak [-- --seconds 600]   (CI runs 60 s; docs/resilience.md)
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { docker, DockerFixture, requireDocker } from '../helpers/docker.js';
import { spawnLb, type LbProcess } from '../helpers/lb-process.js';
import { startLoad, type LoadResult } from '../helpers/load.js';
import { closedPort, startBackend } from '../helpers/servers.js';
import { upgradeRequest } from '../helpers/upgrade-request.js';
import { eventually } from '../helpers/wait.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '600' } } });
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 30) throw new Error(`--seconds: a whole number of at least 30, got "${values.seconds}"`);
const durationMs = seconds * 1000;
const artifacts = new URL('../../test-artifacts/soak', import.meta.url).pathname;
const reloadEveryMs = Math.min(30_000, durationMs / 3);
const CHURN_EVERY_MS = 3_000;
const CHURN_REPLICAS = 3;

interface Sample {
  at: string;
  rss: number;
  fds: number;
  /** Series in /metrics: a server that is gone must not leave its own behind. */
  series: number;
}

async function sample(lb: LbProcess, adminPort: number, at: string): Promise<Sample> {
  const metrics = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
  const series = metrics.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  return { at, rss: lb.memory().rss, fds: readdirSync(`/proc/${lb.child.pid}/fd`).length, series };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const failedCount = (result: LoadResult) => [...result.failures.values()].reduce((a, b) => a + b, 0);

/** One WebSocket-style exchange through lb: the upgrade, `messages` echoed round trips, a close. */
async function upgradeExchange(port: number, messages: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.setTimeout(5_000, () => socket.destroy(new Error('upgrade exchange timed out')));
  try {
    await new Promise<void>((resolve, reject) => {
      let text = '';
      let sent = 0;
      let upgraded = false;
      socket.once('error', reject);
      socket.once('close', () => (sent > messages ? resolve() : reject(new Error(`closed after ${sent} messages: ${text.slice(0, 100)}`))));
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
        if (!upgraded) {
          if (!text.includes('\r\n\r\n')) return;
          if (!text.startsWith('HTTP/1.1 101')) return reject(new Error(`no 101: ${text.slice(0, 100)}`));
          upgraded = true;
          text = '';
        } else if (text !== `ping ${sent}`) {
          return;
        }
        text = '';
        if (++sent > messages) return void socket.end();
        socket.write(`ping ${sent}`);
      });
      socket.write(upgradeRequest('/ws'));
    });
  } finally {
    socket.destroy();
  }
}

test(`soak: ${seconds} s of mixed load, container churn and reloads; memory and descriptors stay flat`, { timeout: durationMs + 180_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const steady = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('steady'));
  });
  steady.server.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    socket.pipe(socket);
  });
  const [webPort, adminPort] = [await closedPort(), await closedPort()];
  // Kept for the failures' details: each failed request's line names its error and server.
  mkdirSync(artifacts, { recursive: true });
  const accessLog = join(artifacts, 'access.log');
  rmSync(accessLog, { force: true });
  const config = (generation: number) => `
entrypoints: { web: { address: "127.0.0.1:${webPort}" } }
admin: { address: "127.0.0.1:${adminPort}" }
accessLog: { enabled: true, path: "${accessLog}" }
providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}" } }
routers:
  steady: { entrypoint: web, match: { host: steady.example.com }, service: steady }
  ws: { entrypoint: web, match: { host: ws.example.com }, service: steady }
  generation${generation}: { entrypoint: web, match: { host: "g${generation}.example.com" }, service: steady }
services:
  steady: { retries: ${1 + (generation % 2)}, servers: [ { url: "${steady.url}" } ] }
`;
  const lb = await spawnLb(t, config(0));
  const web = `http://127.0.0.1:${webPort}`;

  const replicas: string[] = [];
  // With a health check, as users are told to run replicas that come and go (docs/docker.md): a new
  // replica joins once it answers, not as soon as its container runs.
  const churnLabels = fixture.labels({ enable: 'true', host: 'churn.example.com', port: '8080', 'healthcheck.path': '/health', 'healthcheck.interval': '500ms', 'healthcheck.timeout': '250ms' });
  const addReplica = async () => replicas.push(await fixture.start({ labels: churnLabels }));
  for (let i = 0; i < CHURN_REPLICAS; i++) await addReplica();
  await eventually(async () => ((await request(web, { headers: { host: 'churn.example.com' } })).statusCode === 200 ? true : undefined), 'the churned service to serve', 30_000);

  const stop = new AbortController();
  t.after(() => stop.abort());
  const steadyLoad = startLoad({ url: web, host: 'steady.example.com', connections: 6, maxMs: durationMs + 10_000, maxRequests: Number.MAX_SAFE_INTEGER, withPosts: true, signal: stop.signal });
  const churnLoad = startLoad({ url: web, host: 'churn.example.com', connections: 4, maxMs: durationMs + 10_000, maxRequests: Number.MAX_SAFE_INTEGER, withPosts: true, signal: stop.signal });
  const upgrades = { done: 0, failed: [] as string[] };
  const upgradeLoop = (async () => {
    while (!stop.signal.aborted) {
      await upgradeExchange(webPort, 5).then(() => upgrades.done++, (err: Error) => upgrades.failed.push(err.message));
    }
  })();

  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const samples: Sample[] = [];
  const warmUpMs = Math.max(10_000, durationMs / 10);
  let generation = 0;
  let nextReload = reloadEveryMs;
  let nextChurn = CHURN_EVERY_MS;
  let churned = 0;
  try {
    while (elapsed() < durationMs) {
      await sleep(250);
      if (samples.length === 0 && elapsed() >= warmUpMs) samples.push(await sample(lb, adminPort, 'after warm-up'));
      if (samples.length === 1 && elapsed() >= (warmUpMs + durationMs) / 2) samples.push(await sample(lb, adminPort, 'middle'));
      if (elapsed() >= nextChurn) {
        nextChurn += CHURN_EVERY_MS;
        // A new replica first, then the oldest is stopped (SIGTERM, as an orchestrator does) and removed.
        await addReplica();
        const oldest = replicas.shift()!;
        await docker('stop', '-t', '2', oldest);
        await docker('rm', '-f', oldest);
        churned++;
      }
      if (elapsed() >= nextReload) {
        nextReload += reloadEveryMs;
        generation++;
        writeFileSync(`${lb.configPath}.tmp`, config(generation));
        renameSync(`${lb.configPath}.tmp`, lb.configPath);
        await eventually(async () => ((await request(web, { headers: { host: `g${generation}.example.com` } })).statusCode === 200 ? true : undefined), `reload ${generation} to apply`);
      }
    }
    samples.push(await sample(lb, adminPort, 'end'));
  } finally {
    stop.abort();
  }
  const [steadyResult, churnResult] = await Promise.all([steadyLoad.done, churnLoad.done]);
  await upgradeLoop;

  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  t.diagnostic(`soak of ${seconds} s: ${churned} replicas replaced, ${generation} reloads`);
  t.diagnostic(`steady: ${steadyResult.requests} requests, ${failedCount(steadyResult)} failed ${JSON.stringify([...steadyResult.failures])}`);
  t.diagnostic(`churned: ${churnResult.requests} requests, ${failedCount(churnResult)} failed ${JSON.stringify([...churnResult.failures])}`);
  t.diagnostic(`upgrades: ${upgrades.done} exchanges, ${upgrades.failed.length} failed ${JSON.stringify(upgrades.failed.slice(0, 3))}`);
  t.diagnostic(`access log: ${accessLog}`);
  for (const s of samples) t.diagnostic(`${s.at}: RSS ${mib(s.rss)}, ${s.fds} open file descriptors, ${s.series} metric series`);

  assert.equal(samples.length, 3, 'samples after the warm-up, in the middle and at the end');
  assert.ok(churned >= Math.floor(seconds / 5), `containers came and went (${churned})`);
  assert.ok(generation >= 2, `lb.yaml was reloaded (${generation})`);
  assert.equal(failedCount(steadyResult), 0, 'no failed request to the server that stays');
  assert.deepEqual(upgrades.failed, [], 'no failed WebSocket exchange');
  assert.ok(upgrades.done > 0);
  // Replicas stopped by SIGTERM are drained first: the churned service loses no request either.
  assert.equal(failedCount(churnResult), 0, 'no failed request to the churned service');
  const [first, , last] = samples as [Sample, Sample, Sample];
  assert.ok(last.rss <= first.rss * 1.25 + 16 * 2 ** 20, `RSS grew from ${mib(first.rss)} to ${mib(last.rss)}`);
  assert.ok(last.fds <= first.fds + 32, `open file descriptors grew from ${first.fds} to ${last.fds}`);
});
