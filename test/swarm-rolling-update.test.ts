import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Client } from 'undici';
import { DockerRelay } from './helpers/docker-relay.js';
import { startLoad } from './helpers/load.js';
import { createService, swarmFor, startSwarmLb, swarmLbYaml, swarmState, type Swarm, type SwarmLb } from './helpers/swarm.js';
import { eventually } from './helpers/wait.js';

// Zero failed requests while a swarm service changes under load (GETs and POSTs): a forced update
// with start-first and with stop-first, a scale down and up, and a node
// drain; and few failures when a worker's engine stops. The server behaves like a
// well-written app (on SIGTERM it stops listening, finishes what is in flight with Connection:
// close, exits a second later), so a request sent to a stopping task would fail. lb runs with the
// default refreshInterval (1s). The test watches the manager's tasks and lb's /api/state every
// 50 ms to measure how long after DesiredState=shutdown a task leaves the pool, and how long after
// a task runs it gets its first request.

interface TaskTimes {
  running?: number;
  shutdown?: number;
  /** When lb's /api/state first showed the task out of its pool, after it was in. */
  out?: number;
  firstRequest?: number;
}

/** Watches the manager's tasks and lb's view of them until stopped. */
function watch(swarm: Swarm, lb: SwarmLb) {
  const times = new Map<string, TaskTimes>();
  const of = (id: string) => times.get(id) ?? times.set(id, {}).get(id)!;
  const manager = new Client('http://docker', { socketPath: swarm.socket(1) });
  let stopped = false;
  const tasks = (async () => {
    while (!stopped) {
      const res = await manager.request({ method: 'GET', path: '/tasks?filters=%7B%22service%22%3A%5B%22web%22%5D%7D' });
      const now = Date.now();
      for (const task of (await res.body.json()) as Array<{ ID: string; DesiredState: string; Status: { State: string } }>) {
        const entry = of(task.ID.slice(0, 12));
        if (task.Status.State === 'running') entry.running ??= now;
        // A stop-first update creates the new task with DesiredState=ready: not a stop.
        if (task.DesiredState === 'shutdown' || task.DesiredState === 'remove') entry.shutdown ??= now;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const pools = (async () => {
    const inPool = new Set<string>();
    while (!stopped) {
      const state = await swarmState(lb);
      const now = Date.now();
      const entries = state.services.find((s) => s.name === 'web')?.services ?? [];
      const serving = new Set(entries.filter((e) => e.network !== undefined).map((e) => e.task!.split('.').pop()!));
      for (const id of inPool) if (!serving.has(id)) of(id).out ??= now;
      for (const id of serving) inPool.add(id);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    times,
    /** The load's answers name the task: "<node>-<task ID> <method> <bytes>". */
    answered(body: string) {
      const id = body.split(' ')[0]!.split('-').pop()!.slice(0, 12);
      of(id).firstRequest ??= Date.now();
    },
    async stop() {
      stopped = true;
      await Promise.all([tasks, pools]);
      await manager.close();
    },
  };
}

const ms = (values: number[]) => (values.length ? `${values.map((v) => `${v}`).join(', ')} ms (max ${Math.max(...values)} ms)` : 'none');

/**
 * Runs `change` under load, prints the failures and the delays of the tasks it replaced and
 * started, and fails on more failed requests than `allowedShare` of them (none by default).
 */
async function underLoad(t: TestContext, swarm: Swarm, lb: SwarmLb, what: string, change: () => Promise<unknown>, allowedShare = 0): Promise<void> {
  const watcher = watch(swarm, lb);
  const abort = new AbortController();
  const load = startLoad({ url: lb.url, host: 'web.test', connections: 8, maxMs: 150_000, withPosts: true, signal: abort.signal, onBody: (body) => watcher.answered(body) });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = new Set([...watcher.times].filter(([, v]) => v.running !== undefined && v.shutdown === undefined).map(([id]) => id));
    await change();
    // Until every running task of the service is in the pool again, and a second more.
    let last = '';
    await eventually(async () => {
      const state = await swarmState(lb);
      const serving = state.services.find((s) => s.name === 'web')?.services ?? [];
      const running = [...watcher.times].filter(([, v]) => v.running !== undefined && v.shutdown === undefined);
      last = JSON.stringify({ lb: serving, tasks: [...watcher.times] });
      return serving.filter((e) => e.network !== undefined).length === running.length && running.every(([, v]) => v.firstRequest !== undefined);
    }, 'every running task to serve', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    abort.abort();
    const result = await load.done;
    await watcher.stop();
    const stopped = [...watcher.times].filter(([id, v]) => before.has(id) && v.shutdown !== undefined && v.out !== undefined).map(([, v]) => v.out! - v.shutdown!);
    const started = [...watcher.times].filter(([id, v]) => !before.has(id) && v.running !== undefined && v.firstRequest !== undefined).map(([, v]) => v.firstRequest! - v.running!);
    const failed = result.requests - result.ok;
    t.diagnostic(`${what}: ${result.requests} requests (GETs and POSTs), ${failed} failed${failed ? `: ${JSON.stringify([...result.failures])}` : ''}`);
    t.diagnostic(`${what}: DesiredState=shutdown → out of lb's pool: ${ms(stopped)}`);
    t.diagnostic(`${what}: task running → first routed request: ${ms(started)}`);
    if (allowedShare === 0) assert.deepEqual([...result.failures], [], `${failed} failed requests of ${result.requests}`);
    else assert.ok(failed <= result.requests * allowedShare, `${failed} failed requests of ${result.requests}: ${JSON.stringify([...result.failures])}`);
    assert.ok(result.requests > 200, `the load ran: ${result.requests} requests`);
  } finally {
    abort.abort();
    await load.done;
    await watcher.stop().catch(() => undefined);
  }
}

test('a swarm service that updates or scales under load loses no request', { timeout: 600_000 }, async (t) => {
  const swarm = await swarmFor(t);
  if (!swarm) return;
  const relay = new DockerRelay(t, swarm.socket(1));
  await relay.open();
  const lb = await startSwarmLb(swarm, { yaml: swarmLbYaml(''), socketDir: dirname(relay.socketPath), networks: [swarm.overlay] });
  await createService(swarm, 'web', { args: ['--stop-grace-period', '5s'], labels: { 'lb.enable': 'true', 'lb.host': 'web.test', 'lb.port': '8080' } });
  await eventually(async () => (await swarmState(lb)).services.find((s) => s.name === 'web')?.services.filter((e) => e.network).length === 3, 'three tasks in the pool', 90_000);

  await t.test('docker service update --force, start-first: zero failed requests', (st) =>
    underLoad(st, swarm, lb, 'update start-first', () => swarm.docker(['service', 'update', '--force', '--update-order', 'start-first', 'web'])));

  await t.test('docker service update --force, stop-first: zero failed requests', (st) =>
    underLoad(st, swarm, lb, 'update stop-first', () => swarm.docker(['service', 'update', '--force', '--update-order', 'stop-first', 'web'])));

  await t.test('docker service scale down to 1 and up to 3: zero failed requests', (st) =>
    underLoad(st, swarm, lb, 'scale 3 → 1 → 3', async () => {
      await swarm.docker(['service', 'scale', 'web=1']);
      await eventually(async () => (await swarmState(lb)).services.find((s) => s.name === 'web')?.services.filter((e) => e.network).length === 1, 'one task in the pool', 30_000);
      await swarm.docker(['service', 'scale', 'web=3']);
    }));

  await t.test('docker node update --availability drain: the node tasks move, zero failed requests', async (st) => {
    // The replacement of each moved task waits in `ready` until the old one has stopped: the other
    // replicas cover the gap.
    const node = (await swarm.docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Node}}'])).split('\n').find((n) => n !== 'node1')!;
    await underLoad(st, swarm, lb, `drain ${node}`, async () => {
      await swarm.docker(['node', 'update', '--availability', 'drain', node]);
      await eventually(async () => {
        const tasks = (await swarm.docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'])).split('\n');
        return tasks.length === 3 && tasks.every((l) => !l.startsWith(`${node} `) && l.includes('Running'));
      }, `three tasks running, none on ${node}`, 60_000);
    });
    await swarm.docker(['node', 'update', '--availability', 'active', node]);
  });

  // Not an orchestrated stop: the engine stops its containers itself, and the manager learns of
  // it afterwards, so a request can reach a task that is already gone and its one retry another
  // task of the same node. Fewer than 1% of the requests may fail; the test prints how many did.
  // The manager marks the node down after its heartbeat period (12-13 s were measured here from the
  // stop, more on a loaded machine), and only then its tasks.
  await t.test('a worker whose engine stops: its tasks leave the pool within seconds and are replaced', async (st) => {
    const node = (await swarm.docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Node}}'])).split('\n').find((n) => n !== 'node1')!;
    const stoppedAt = Date.now();
    let outAfter: number | undefined;
    await underLoad(st, swarm, lb, `engine of ${node} stopped`, async () => {
      await swarm.stopEngine(Number(node.replace('node', '')));
      await eventually(async () => !(await swarmState(lb)).services.find((s) => s.name === 'web')?.services.some((e) => e.node === node && e.network), `the tasks of ${node} to leave the pool`, 30_000);
      outAfter = Date.now() - stoppedAt;
      await eventually(async () => {
        const tasks = (await swarm.docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'])).split('\n');
        return tasks.length === 3 && tasks.every((l) => !l.startsWith(`${node} `) && l.includes('Running'));
      }, `three tasks running, none on ${node}`, 90_000);
    }, 0.01);
    st.diagnostic(`engine of ${node} stopped → its tasks out of lb's pool: ${outAfter} ms`);
    await swarm.startEngine(Number(node.replace('node', '')));
  });
});
