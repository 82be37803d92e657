import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { DockerRelay } from './helpers/docker-relay.js';
import { createService, inProcessSwarmLb, swarmFor, startSwarmLb, swarmLbYaml, swarmState, type SwarmLb } from './helpers/swarm.js';
import { eventually } from './helpers/wait.js';

// The connection to the swarm manager: when its API goes away (a relay in front of it is cut) the
// last known pools keep serving, and when it comes back lb catches up with what changed meanwhile;
// a worker's API is refused with a clear error, and a socket proxy's 403 names the permission.

async function get(lb: SwarmLb, host: string): Promise<string> {
  const res = await request(lb.url, { headers: { host } });
  return `${res.statusCode} ${await res.body.text()}`;
}

async function connectedGauge(lb: SwarmLb): Promise<number> {
  const text = await (await fetch(`${lb.adminUrl}/metrics`)).text();
  return Number(/^lb_swarm_connected (\d)/m.exec(text)![1]);
}

test('the swarm manager API: going away, coming back, a worker, a socket proxy that refuses', { timeout: 300_000 }, async (t) => {
  const swarm = await swarmFor(t);
  if (!swarm) return;

  await t.test('when the manager API goes away the last pools keep serving; back, lb sees what changed', async (st) => {
    const relay = new DockerRelay(st, swarm.socket(1));
    await relay.open();
    const lb = await startSwarmLb(swarm, { yaml: swarmLbYaml(''), socketDir: dirname(relay.socketPath), networks: [swarm.overlay] });
    await createService(swarm, 'web', { replicas: 2, labels: { 'lb.enable': 'true', 'lb.host': 'web.test', 'lb.port': '8080' } });
    await eventually(async () => (await swarmState(lb)).services.find((s) => s.name === 'web')?.services.filter((e) => e.network).length === 2, 'two tasks in the pool', 90_000);
    assert.equal(await connectedGauge(lb), 1);

    relay.cut();
    await eventually(async () => ((await connectedGauge(lb)) === 0 ? true : undefined), 'lb_swarm_connected to drop to 0', 30_000);
    for (let i = 0; i < 10; i++) assert.match(await get(lb, 'web.test'), /^200 node\d-/, 'the last known pool keeps serving');
    // A change lb cannot see while the API is away: only a refresh after reconnecting finds it.
    await swarm.docker(['service', 'scale', 'web=3']);
    assert.equal((await swarmState(lb)).services.find((s) => s.name === 'web')?.services.filter((e) => e.network).length, 2);
    for (let i = 0; i < 10; i++) assert.match(await get(lb, 'web.test'), /^200 /);

    await relay.open();
    await eventually(async () => (await swarmState(lb)).services.find((s) => s.name === 'web')?.services.filter((e) => e.network).length === 3, 'the third task after reconnecting', 60_000);
    assert.equal(await connectedGauge(lb), 1);
    assert.match(await lb.logs(), /reconnected to the swarm manager/);
  });

  await t.test("a worker's API is refused with LB_SWARM_NOT_MANAGER, which says what to point at", async (st) => {
    const lines = await inProcessSwarmLb(st, `endpoint: "unix://${swarm.socket(2)}"`);
    const line = await eventually(() => lines.find((l) => l.includes('LB_SWARM_NOT_MANAGER')), 'the error to be logged');
    assert.match(line, /is not a swarm manager \(it is a worker node: workers answer 503 to \/tasks and \/services\); point providers\.swarm\.endpoint at a manager/);
  });

  await t.test('a 403 from a socket proxy names the permission to grant', async (st) => {
    const relay = new DockerRelay(st, swarm.socket(1));
    relay.forbidden = /^\/tasks/;
    await relay.open();
    const lines = await inProcessSwarmLb(st, `endpoint: "${relay.endpoint}"`);
    const line = await eventually(() => lines.find((l) => l.includes('LB_DOCKER_FORBIDDEN')), 'the 403 to be logged');
    assert.match(line, /the Docker API refused GET \/tasks \(403\): allow read access to \/tasks in your socket proxy \(for tecnativa\/docker-socket-proxy: TASKS=1\)\. lb needs only GET on \/_ping, \/version, \/info, \/services, \/tasks, \/nodes, \/networks, \/events and \/containers/);
  });
});
