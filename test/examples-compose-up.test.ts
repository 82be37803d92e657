import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { stringify } from 'yaml';
import { baseImage, DockerFixture, eventually, lbImage, requireDocker } from './helpers/docker.js';
import { closedPort } from './helpers/servers.js';

// Each compose example brought up for real with docker-compose (Compose v1; the files keep to the
// Compose spec, which v2 reads too). An override file makes it run offline, and nothing else is
// changed: lb is the image of the repo's Dockerfile (built on a local Node base image), every
// other service runs the test backend on the host's node, and host ports are free loopback ones.

const exec = promisify(execFile);
const examples = new URL('../examples/', import.meta.url).pathname;
const fixtures = new URL('./fixtures/', import.meta.url).pathname;
/** The value of a host port variable of the examples (`LB_WEB_PORT`) that publishes on loopback only. */
const loopback = (port: number): string => `127.0.0.1:${port}`;

/** True when Docker and `docker-compose` answer; like requireDocker, CI's LB_REQUIRE_DOCKER=1 fails instead of skipping. */
async function requireCompose(t: TestContext): Promise<boolean> {
  if (!(await requireDocker(t))) return false;
  if (await exec('docker-compose', ['version'], { timeout: 10_000 }).then(() => true, () => false)) return true;
  const why = 'no docker-compose: apt-get install docker-compose to run the compose examples';
  if (process.env.LB_REQUIRE_DOCKER === '1') throw new Error(`LB_REQUIRE_DOCKER=1 but ${why}`);
  t.skip(why);
  return false;
}

interface Project {
  /** `docker-compose` with this project's files and name; fails after 60 s. */
  compose(args: string[]): Promise<string>;
  /** The hostnames (short container ids, which the backend answers with) of a service's containers. */
  replicas(service: string): Promise<Set<string>>;
  ports: Record<string, number>;
}

/** Backends instead of the example's public images: the test backend on `env`'s ports. */
function backend(run: string, env: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: baseImage,
    volumes: ['/usr:/usr:ro', '/lib:/lib:ro', '/lib64:/lib64:ro', `${fixtures}:/app:ro`],
    command: ['/usr/bin/node', '/app/backend.cjs'],
    environment: env,
    labels: { 'lb-test.run': run },
    ...extra,
  };
}

async function upProject(t: TestContext, example: string, services: (run: string) => Record<string, unknown>, networks: string[], publish: Record<string, (port: number) => string>): Promise<Project> {
  const { image } = await lbImage();
  // Its run label on every container and network of the project lets a later run sweep them if
  // this one is killed before `down`; its cleanup removes any container `down` left.
  const { run, prefix: name } = new DockerFixture(t);
  const dir = mkdtempSync(join(tmpdir(), 'lb-compose-'));
  const override = join(dir, 'docker-compose.test.yml');
  writeFileSync(override, stringify({
    services: { lb: { image, labels: { 'lb-test.run': run } }, ...services(run) },
    networks: Object.fromEntries(networks.map((network) => [network, { labels: { 'lb-test.run': run } }])),
  }));
  const ports: Record<string, number> = {};
  const env = { ...process.env };
  for (const [variable, value] of Object.entries(publish)) {
    ports[variable] = await closedPort();
    env[variable] = value(ports[variable]);
  }
  const files = ['-f', join(examples, example, 'docker-compose.yml'), '-f', override, '-p', name];
  const compose = async (args: string[]): Promise<string> => {
    try {
      const { stdout } = await exec('docker-compose', [...files, ...args], { env, timeout: 60_000 });
      return stdout.trim();
    } catch (err) {
      throw new Error(`docker-compose ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`);
    }
  };
  t.after(async () => {
    await compose(['down', '-v', '--rmi', 'local', '--remove-orphans', '-t', '2']).catch((err: Error) => t.diagnostic(`down: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  });
  await compose(['up', '-d', '--no-build']);
  const replicas = async (service: string): Promise<Set<string>> =>
    new Set((await compose(['ps', '-q', service])).split('\n').filter(Boolean).map((id) => id.slice(0, 12)));
  return { compose, replicas, ports };
}

/** GETs through the published web port until every one of `expected` has answered. */
async function everyReplicaAnswers(port: number, host: string, expected: Set<string>, what: string): Promise<void> {
  const seen = new Set<string>();
  await eventually(async () => {
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { host } });
    const body = await res.body.text();
    if (res.statusCode === 200) {
      assert.ok(expected.has(body), `${host} answered by ${body}, which is not one of ${[...expected].join(', ')}`);
      seen.add(body);
    }
    return seen.size === expected.size;
  }, what, 30_000);
}

/** Sends a line to a TCP port and resolves to what comes back. */
function tcpEcho(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(line));
    let got = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('no echo within 2 s')));
    socket.on('data', (chunk) => {
      got += String(chunk);
      if (got.length >= line.length) socket.end(() => resolve(got));
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

async function assertGone(project: Project): Promise<void> {
  await project.compose(['down', '-v', '--rmi', 'local', '--remove-orphans', '-t', '2']);
  assert.equal(await project.compose(['ps', '-q']), '', 'no container of the project is left');
}

test('examples/compose comes up with docker-compose, serves HTTP and TCP through lb, and scales app into its pool', { timeout: 600_000 }, async (t) => {
  if (!(await requireCompose(t))) return;
  const project = await upProject(t, 'compose', (run) => ({
    app: backend(run, { PORT: '80' }),
    api: backend(run, { PORT: '80' }, {
      healthcheck: { test: ['CMD', '/usr/bin/node', '-e', "fetch('http://127.0.0.1/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"], interval: '1s' },
    }),
    redis: backend(run, { PORT: '8080', TCP_PORT: '6379' }),
  }), ['front'], { LB_WEB_PORT: loopback, LB_REDIS_PORT: loopback, LB_ADMIN_PORT: String }); // the example binds admin to 127.0.0.1 itself
  const web = project.ports.LB_WEB_PORT!;

  const apps = await project.replicas('app');
  assert.equal(apps.size, 2, 'deploy.replicas starts two app containers');
  await everyReplicaAnswers(web, 'app.localhost', apps, 'both app replicas to answer through lb');
  const apis = await project.replicas('api');
  assert.equal(apis.size, 2);
  await everyReplicaAnswers(web, 'api.localhost', apis, 'both api replicas to answer once their HEALTHCHECK passes');
  assert.equal(await eventually(() => tcpEcho(project.ports.LB_REDIS_PORT!, 'PING\r\n').then((echo) => echo || undefined), 'the redis TCP entrypoint to relay', 30_000), 'PING\r\n');

  await project.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', 'app=3']);
  const scaled = await project.replicas('app');
  assert.equal(scaled.size, 3);
  for (const id of apps) assert.ok(scaled.has(id), 'scaling up keeps the running replicas');
  await everyReplicaAnswers(web, 'app.localhost', scaled, 'the new app replica to join the pool and answer');
  await assertGone(project);
});

test('examples/multi-network comes up with docker-compose, lb reaches app on the network lb.network names, and scales it', { timeout: 600_000 }, async (t) => {
  if (!(await requireCompose(t))) return;
  const project = await upProject(t, 'multi-network', (run) => ({
    app: backend(run, { PORT: '80' }),
    db: backend(run, { PORT: '5432' }),
  }), ['frontend', 'backend'], { LB_WEB_PORT: loopback });
  const web = project.ports.LB_WEB_PORT!;

  await everyReplicaAnswers(web, 'app.localhost', await project.replicas('app'), 'app to answer through lb on the frontend network');
  await project.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', 'app=2']);
  const scaled = await project.replicas('app');
  assert.equal(scaled.size, 2);
  await everyReplicaAnswers(web, 'app.localhost', scaled, 'both app replicas to answer');
  await assertGone(project);
});
