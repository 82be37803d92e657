import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb, type TestBalancer } from './helpers/lb.js';
import { createService, swarmFor, swarmState } from './helpers/swarm.js';
import { eventually } from './helpers/wait.js';

// lb.swarm.hostPort=true on a real 3-node swarm: the servers are each task's node address (from
// /nodes) with the port the task publishes in host mode, so an lb that shares no overlay with the
// tasks reaches them. Here lb runs on the host, outside every overlay: only the nodes' own
// addresses are reachable from it, so every answer proves the node:port path.

const reports = async (lb: TestBalancer) => (await swarmState({ adminUrl: lb.url('admin') })).services;

async function answers(lb: TestBalancer, host: string, count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const res = await request(lb.url('web'), { headers: { host } });
    const body = await res.body.text();
    const key = res.statusCode === 200 ? body.split(' ')[0]! : `status ${res.statusCode}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

test('lb.swarm.hostPort=true routes to the node address and host-mode published port of each task', { timeout: 300_000 }, async (t) => {
  const swarm = await swarmFor(t);
  if (!swarm) return;
  const lb = await startLb(t, lbYaml(`providers: { swarm: { enabled: true, endpoint: "unix://${swarm.socket(1)}", refreshInterval: 500ms } }\n`));

  await t.test('one task per node, each on port 18080 of its node: every task serves through lb', async () => {
    await createService(swarm, 'hosted', {
      args: ['--replicas-max-per-node', '1', '--publish', 'mode=host,published=18080,target=8080'],
      labels: { 'lb.enable': 'true', 'lb.host': 'hosted.test', 'lb.swarm.hostPort': 'true' },
    });
    const seen = await eventually(async () => {
      const got = await answers(lb, 'hosted.test', 12);
      // A round that began before every task was in the pool has 503s in it: wait for a whole round served.
      return got.size === 3 && [...got.keys()].every((k) => k.startsWith('node')) ? got : undefined;
    }, 'the three tasks to answer through their nodes', 120_000);
    assert.deepEqual([...seen.keys()].map((k) => k.split('-')[0]).sort(), ['node1', 'node2', 'node3'], `answers: ${JSON.stringify([...seen])}`);
    const report = (await reports(lb)).find((s) => s.name === 'hosted')!;
    assert.equal(report.inPool, true);
    const addresses = report.services.map((e) => e.address).sort();
    assert.deepEqual(addresses, [1, 2, 3].map((n) => `${swarm.address(n)}:18080`), 'the nodes\' addresses from /nodes, with the published port');
    for (const entry of report.services) {
      assert.match(entry.why, /^lb\.swarm\.hostPort=true: port 18080 of node node\d, published in host mode$/);
      assert.equal(entry.network, undefined, 'no overlay network is used');
    }
  });

  await t.test('ports the engine picks (published= left out) differ per task; lb.port chooses among several target ports', async () => {
    await createService(swarm, 'picked', {
      replicas: 2,
      args: ['--publish', 'mode=host,target=8080', '--publish', 'mode=host,target=9090', '--env', 'PORT=8080'],
      labels: { 'lb.enable': 'true', 'lb.host': 'picked.test', 'lb.port': '8080', 'lb.swarm.hostPort': 'true' },
    });
    const inPool = (e: { why: string }) => e.why.startsWith('lb.swarm.hostPort=true: port');
    await eventually(async () => ((await reports(lb)).find((s) => s.name === 'picked')?.services.filter(inPool).length === 2 ? true : undefined), 'both tasks in the pool', 120_000);
    const tasks = JSON.parse(`[${(await swarm.docker(['service', 'ps', 'picked', '--filter', 'desired-state=running', '--format', '{{json .}}', '--no-trunc'])).split('\n').join(',')}]`) as Array<{ ID: string }>;
    const expected = await Promise.all(tasks.map(async ({ ID }) => {
      const [task] = JSON.parse(await swarm.docker(['inspect', ID])) as Array<{ NodeID: string; Status: { PortStatus: { Ports: Array<{ TargetPort: number; PublishedPort: number }> } } }>;
      const [node] = JSON.parse(await swarm.docker(['node', 'inspect', task!.NodeID])) as Array<{ Status: { Addr: string } }>;
      return `${node!.Status.Addr}:${task!.Status.PortStatus.Ports.find((p) => p.TargetPort === 8080)!.PublishedPort}`;
    }));
    const report = (await reports(lb)).find((s) => s.name === 'picked')!;
    assert.deepEqual(report.services.map((e) => e.address).sort(), expected.sort(), 'each task\'s own published port for target 8080');
    const got = await answers(lb, 'picked.test', 8);
    assert.deepEqual([...got.keys()].filter((k) => !k.startsWith('node')), [], `every answer from a task: ${JSON.stringify([...got])}`);
  });

  await t.test('without a host-mode port for the target port, or with lb.swarm.vip too, the service is left out with the reason', async () => {
    await createService(swarm, 'meshed', { replicas: 1, args: ['--publish', 'mode=ingress,published=18081,target=8080'], labels: { 'lb.enable': 'true', 'lb.host': 'meshed.test', 'lb.port': '8080', 'lb.swarm.hostPort': 'true' } });
    const meshed = await eventually(async () => (await reports(lb)).find((s) => s.name === 'meshed' && s.services.length > 0), 'the meshed service in the state', 60_000);
    assert.equal(meshed.inPool, false);
    assert.match(meshed.services[0]!.why, /^lb\.swarm\.hostPort=true, but the task publishes no port in host mode for target port 8080: publish it with mode=host$/);

    await createService(swarm, 'both', { replicas: 1, args: ['--publish', 'mode=host,published=18082,target=8080'], labels: { 'lb.enable': 'true', 'lb.host': 'both.test', 'lb.swarm.vip': 'true', 'lb.swarm.hostport': 'true' } });
    const state = await eventually(async () => (await swarmState({ adminUrl: lb.url('admin') })).labelErrors.find((e) => e.service === 'both'), 'the label error', 60_000);
    assert.equal(state.label, 'lb.swarm.hostport');
    assert.match(state.message, /lb\.swarm\.vip=true and lb\.swarm\.hostport=true cannot be combined/);
  });
});
