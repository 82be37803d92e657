import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { createService, startSwarm, startSwarmLb, swarmLbYaml } from './helpers/swarm.js';
import { DockerRelay } from './helpers/docker-relay.js';
import { dirname } from 'node:path';
const swarm = await startSwarm();
const afters: Array<() => unknown> = [];
try {
  const relay = new DockerRelay({ after: (fn: () => unknown) => afters.push(fn) } as never, swarm.socket(1));
  await relay.open();
  const lb = await startSwarmLb(swarm, { yaml: swarmLbYaml('refreshInterval: 500ms'), socketDir: dirname(relay.socketPath), networks: [swarm.overlay] });
  await createService(swarm, 'web', { labels: { 'lb.enable': 'true', 'lb.host': 'web.test', 'lb.port': '8080' } });
  writeFileSync('/tmp/sw-debug.json', JSON.stringify({ sock: swarm.socket(1), lb }));
  console.log('READY', JSON.stringify(lb));
  while (!existsSync('/tmp/sw-debug.stop')) await delay(500);
} finally {
  for (const f of afters) await f();
  await swarm.teardown();
  console.log('DOWN');
}
