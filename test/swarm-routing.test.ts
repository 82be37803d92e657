import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { DockerRelay } from './helpers/docker-relay.js';
import { createService, swarmFor, startSwarmLb, swarmLbYaml, swarmState, type SwarmLb } from './helpers/swarm.js';
import { eventually } from './helpers/wait.js';

// What lb routes to on a real 3-node swarm (three dockerd in network namespaces): every task of a
// service across the nodes, on the overlay lb shares or the one lb.network names, never ingress;
// the service VIP with lb.swarm.vip=true; a bad label leaves out only its service; a task whose
// HEALTHCHECK is still starting stays out. One swarm and one lb (in a container on the overlay,
// reading the manager through a relay that records every call) serve all the cases.

async function get(lb: SwarmLb, host: string, path = '/'): Promise<{ status: number; body: string }> {
  const res = await request(`${lb.url}${path}`, { headers: { host } });
  return { status: res.statusCode, body: await res.body.text() };
}

/** The task hostnames (<node>-<task ID>) that answered `host` in `count` requests. */
async function answering(lb: SwarmLb, host: string, count = 12): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const { status, body } = await get(lb, host);
    if (status === 200) seen.add(body.split(' ')[0]!);
  }
  return seen;
}

test('lb on a 3-node swarm routes to the tasks of labelled services', { timeout: 300_000 }, async (t) => {
  const swarm = await swarmFor(t);
  if (!swarm) return;
  const relay = new DockerRelay(t, swarm.socket(1));
  await relay.open();
  await swarm.docker(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.241.2.0/24', 'back']);
  const lb = await startSwarmLb(swarm, { yaml: swarmLbYaml('refreshInterval: 500ms'), socketDir: dirname(relay.socketPath), networks: [swarm.overlay, 'back'] });

  await t.test('a service with 3 replicas: every task serves, on the tasks overlay addresses across the nodes', async () => {
    const created = Date.now();
    await createService(swarm, 'web', { labels: { 'lb.enable': 'true', 'lb.host': 'web.test', 'lb.port': '8080' } });
    const seen = await eventually(async () => {
      const tasks = await answering(lb, 'web.test');
      return tasks.size === 3 ? tasks : undefined;
    }, 'three tasks to answer through lb', 90_000);
    const nodes = new Set([...seen].map((h) => h.split('-')[0]));
    assert.equal(nodes.size, 3, `tasks on every node: ${[...seen].join(', ')}`);
    const state = await swarmState(lb);
    const web = state.services.find((s) => s.name === 'web')!;
    assert.equal(web.inPool, true);
    assert.equal(web.services.length, 3);
    for (const entry of web.services) {
      assert.match(entry.address!, /^10\.241\.1\.\d+:8080$/, 'an address on the overlay, without the /24 of the task attachment');
      assert.equal(entry.network, 'ov');
    }
    t.diagnostic(`service create → all three tasks answering through lb: ${Date.now() - created} ms`);
  });

  await t.test('a bad label leaves out its own service, reported, while a good one next to it serves', async () => {
    await createService(swarm, 'bad', { replicas: 1, labels: { 'lb.enable': 'true', 'lb.host': 'bad.test', 'lb.port': '8080', 'lb.timeouts.conect': '1s' } });
    await createService(swarm, 'good', { replicas: 1, labels: { 'lb.enable': 'true', 'lb.host': 'good.test', 'lb.port': '8080' } });
    await eventually(async () => (await get(lb, 'good.test')).status === 200, 'the good service to serve', 90_000);
    const state = await swarmState(lb);
    const error = state.labelErrors.find((e) => e.service === 'bad');
    assert.ok(error, 'the bad service is in labelErrors');
    assert.equal(error.label, 'lb.timeouts.conect');
    assert.match(error.message, /unknown key "conect".*connect/);
    assert.match(state.services.find((s) => s.name === 'bad')!.reason!, /^label error: /);
    assert.equal((await get(lb, 'bad.test')).status, 404, 'no router for the bad service');
    assert.match(await lb.logs(), /"service":"bad","label":"lb.timeouts.conect".*label error, service left out/);
    const metrics = await (await fetch(`${lb.adminUrl}/metrics`)).text();
    assert.match(metrics, /^lb_swarm_label_errors_total [1-9]/m);
  });

  await t.test('a service on two overlays: lb.network picks one; without it, the one lb shares and no other', async () => {
    await swarm.docker(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.241.3.0/24', 'other']);
    await createService(swarm, 'twonets', { replicas: 1, networks: ['other', 'back'], labels: { 'lb.enable': 'true', 'lb.host': 'twonets.test', 'lb.port': '8080' } });
    await createService(swarm, 'chosen', { replicas: 1, networks: ['ov', 'back'], labels: { 'lb.enable': 'true', 'lb.host': 'chosen.test', 'lb.port': '8080', 'lb.network': 'back' } });
    await createService(swarm, 'unshared', { replicas: 1, networks: ['other'], labels: { 'lb.enable': 'true', 'lb.host': 'unshared.test', 'lb.port': '8080' } });
    await eventually(async () => (await get(lb, 'chosen.test')).status === 200 && (await get(lb, 'twonets.test')).status === 200, 'both services to serve', 90_000);
    const state = await swarmState(lb);
    const chosen = state.services.find((s) => s.name === 'chosen')!.services[0]!;
    assert.equal(chosen.network, 'back');
    assert.match(chosen.address!, /^10\.241\.2\./);
    assert.equal(chosen.why, 'lb.network=back');
    const shared = state.services.find((s) => s.name === 'twonets')!.services[0]!;
    assert.equal(shared.network, 'back', 'the network lb shares, not "other"');
    assert.equal(shared.why, 'shares network back with lb');
    // On a network lb is not on, the only network is still chosen: it is the user's to fix, and
    // the address says which one it is.
    const unshared = state.services.find((s) => s.name === 'unshared')!.services[0]!;
    assert.equal(unshared.why, 'only network other');
  });

  await t.test('lb.swarm.vip=true routes to the service virtual IP (chosen, though this kernel has no IPVS to answer it)', async () => {
    await createService(swarm, 'vip', { replicas: 1, labels: { 'lb.enable': 'true', 'lb.host': 'vip.test', 'lb.port': '8080', 'lb.swarm.vip': 'true' } });
    const inspect = JSON.parse(await swarm.docker(['service', 'inspect', 'vip'])) as Array<{ Endpoint: { VirtualIPs: Array<{ Addr: string }> } }>;
    const vip = inspect[0]!.Endpoint.VirtualIPs[0]!.Addr.split('/')[0]!;
    // Until the manager's allocator gives the service its VIP, lb reports it without an address.
    const entry = await eventually(async () => {
      const placed = (await swarmState(lb)).services.find((s) => s.name === 'vip')?.services[0];
      if (placed && !placed.address) assert.match(placed.why, /has not yet given the service a virtual IP/);
      return placed?.address ? placed : undefined;
    }, 'the vip service with an address in /api/state', 60_000);
    assert.equal(entry.address, `${vip}:8080`);
    assert.equal(entry.task, undefined, 'one server for the whole service, not one per task');
    assert.match(entry.why, /^lb\.swarm\.vip=true: the service's virtual IP/);

    await createService(swarm, 'dnsrr', { replicas: 2, args: ['--endpoint-mode', 'dnsrr'], labels: { 'lb.enable': 'true', 'lb.host': 'dnsrr.test', 'lb.port': '8080' } });
    await eventually(async () => ((await answering(lb, 'dnsrr.test', 8)).size === 2 ? true : undefined), 'both dnsrr tasks to serve by their addresses', 90_000);

    await createService(swarm, 'badvip', { replicas: 1, labels: { 'lb.enable': 'true', 'lb.host': 'badvip.test', 'lb.port': '8080', 'lb.swarm.vpi': 'true' } });
    const error = await eventually(async () => (await swarmState(lb)).labelErrors.find((e) => e.service === 'badvip'), 'lb.swarm.vpi to be reported', 60_000);
    assert.equal(error.label, 'lb.swarm.vpi');
    assert.match(error.message, /unknown key "vpi".*vip/);
  });

  await t.test('a task whose HEALTHCHECK is starting stays out of the pool until it is healthy', async () => {
    // Healthy once /tmp/ready exists: the test decides when. /bin for the health command's shell.
    await createService(swarm, 'health', {
      replicas: 1,
      args: ['--health-cmd', 'test -e /tmp/ready', '--health-interval', '500ms', '--health-retries', '1000', '--mount', 'type=tmpfs,dst=/tmp', '--mount', 'type=bind,src=/bin,dst=/bin,ro'],
      labels: { 'lb.enable': 'true', 'lb.host': 'health.test', 'lb.port': '8080' },
    });
    const entry = await eventually(async () => (await swarmState(lb)).services.find((s) => s.name === 'health')?.services.find((e) => e.why === 'health: starting'), 'the task to be seen starting', 60_000);
    assert.equal((await get(lb, 'health.test')).status, 503, 'no server while the only task is starting');
    // The node's engine may list the task's container a moment after the manager reports it.
    const { container, node } = await eventually(async () => {
      const [taskId, nodeName] = (await swarm.docker(['service', 'ps', 'health', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}} {{.Node}}'])).split(' ');
      const node = Number(nodeName!.replace('node', ''));
      const container = await swarm.docker(['ps', '-q', '--filter', `label=com.docker.swarm.task.id=${taskId}`], node);
      return container ? { container, node } : undefined;
    }, 'the health task container on its node', 30_000);
    await swarm.docker(['exec', container, '/usr/bin/touch', '/tmp/ready'], node);
    const healthyAt = Date.now();
    await eventually(async () => (await get(lb, 'health.test')).status === 200, 'the task to serve once healthy', 30_000);
    t.diagnostic(`HEALTHCHECK made healthy → first routed request: ${Date.now() - healthyAt} ms (the health interval is 500 ms); task was ${entry.task}`);
  });

  await t.test('lb sends the manager only GET requests, to read-only endpoints', () => {
    assert.ok(relay.requests.length > 10);
    assert.deepEqual(relay.requests.filter((r) => r.method !== 'GET'), []);
    const paths = new Set(relay.requests.map((r) => r.path.split('?')[0]!.replace(/^\/containers\/[^/]+\/json$/, '/containers/ID/json')));
    const readOnly = new Set(['/_ping', '/version', '/info', '/services', '/tasks', '/nodes', '/networks', '/events', '/containers/ID/json']);
    assert.deepEqual([...paths].filter((p) => !readOnly.has(p)), [], `paths lb read: ${[...paths].join(', ')}`);
  });
});
