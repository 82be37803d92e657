import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { stringify } from 'yaml';
import { fixtureMounts, repoRoot, swarmFor, swarmImage } from './helpers/swarm.js';
import { eventually } from './helpers/wait.js';

// examples/swarm/stack.yml deployed for real with `docker stack deploy` on the 3-node test swarm.
// An override file makes it run offline and changes nothing else: lb runs from this checkout's
// sources on the host's node (there is no registry for lb's image), reading the manager's socket,
// and app is the test server instead of traefik/whoami.

const example = new URL('../examples/swarm/', import.meta.url).pathname;

/** `--mount` arguments of the swarm helper, as compose long-syntax volumes. */
const volumes = (mounts: string[]) =>
  mounts.filter((m) => m !== '--mount').map((m) => {
    const fields = Object.fromEntries(m.split(',').map((kv) => kv.split('=') as [string, string]).filter((kv) => kv.length === 2));
    return { type: 'bind', source: fields.src, target: fields.dst, read_only: true };
  });

test('examples/swarm/stack.yml deploys with docker stack deploy; lb serves every app task and follows a scale-up', { timeout: 300_000 }, async (t) => {
  const swarm = await swarmFor(t);
  if (!swarm) return;
  const dir = mkdtempSync(join(tmpdir(), 'lb-stack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const override = join(dir, 'stack.test.yml');
  const system = volumes(fixtureMounts).filter((v) => v.target !== '/app');
  writeFileSync(override, stringify({
    version: '3.8',
    services: {
      lb: {
        image: swarmImage,
        working_dir: '/lb',
        environment: { HOME: '/tmp' },
        command: ['/usr/bin/node', '--import', 'tsx', 'src/cli.ts', 'run', '--config', '/etc/lb/lb.yaml'],
        volumes: [
          ...system,
          { type: 'bind', source: repoRoot, target: '/lb', read_only: true },
          { type: 'tmpfs', target: '/tmp' },
          { type: 'bind', source: swarm.socket(1), target: '/var/run/docker.sock' },
        ],
      },
      app: {
        image: swarmImage,
        hostname: '{{.Node.Hostname}}-{{.Task.ID}}',
        command: ['/usr/bin/node', '/app/swarm-backend.cjs'],
        volumes: volumes(fixtureMounts),
        deploy: { labels: { 'lb.port': '8080' } },
      },
    },
  }));
  await swarm.docker(['stack', 'deploy', '--resolve-image', 'never', '-c', join(example, 'stack.yml'), '-c', override, 'lbdemo']);
  t.after(() => swarm.docker(['stack', 'rm', 'lbdemo']).catch(() => undefined));

  const url = `http://${swarm.address(1)}:8080/`;
  const answering = async (count: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < count * 4; i++) {
      const res = await request(url, { headers: { host: 'app.localhost' } }).catch(() => undefined);
      const body = await res?.body.text();
      if (res?.statusCode === 200) seen.add(body!.split(' ')[0]!);
    }
    return seen.size === count ? seen : undefined;
  };
  const first = await eventually(() => answering(3), 'the three app tasks to answer through lb on the manager port 8080', 120_000);
  assert.equal(new Set([...first].map((h) => h.split('-')[0])).size, 3, `app tasks on every node: ${[...first].join(', ')}`);

  await swarm.docker(['service', 'scale', 'lbdemo_app=4']);
  await eventually(() => answering(4), 'the fourth task to join the pool', 60_000);
});
