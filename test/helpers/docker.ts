import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { lbYaml } from './config.js';
import { startLb, type TestBalancer } from './lb.js';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const baseImage = 'lb-test/base:1';
const fixtures = new URL('../fixtures/', import.meta.url).pathname;

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: 60_000 });
  return stdout.trim();
}

let engine: Promise<string | undefined> | undefined;

/** The engine's version, or undefined when none answers. */
function probeEngine(): Promise<string | undefined> {
  engine ??= docker('version', '--format', '{{.Server.Version}}').catch(() => undefined);
  return engine;
}

/**
 * True when a Docker engine answers. Without one the test is skipped, and says why; with
 * LB_REQUIRE_DOCKER=1 (CI) a missing engine fails the test instead.
 */
export async function requireDocker(t: TestContext): Promise<boolean> {
  const version = await probeEngine();
  if (version) {
    await ensureBaseImage();
    await sweepStale();
    return true;
  }
  if (process.env.LB_REQUIRE_DOCKER === '1') throw new Error('LB_REQUIRE_DOCKER=1 but no Docker engine answers `docker version`; start dockerd');
  t.skip('no Docker engine: start dockerd (or set DOCKER_HOST) to run the Docker tests');
  return false;
}

let swept: Promise<void> | undefined;

/** Removes what test runs killed before their cleanup left behind (stopped, over 30 minutes old). */
function sweepStale(): Promise<void> {
  swept ??= (async () => {
    await docker('container', 'prune', '-f', '--filter', 'label=lb-test.run', '--filter', 'until=30m').catch(() => undefined);
    await docker('network', 'prune', '-f', '--filter', 'label=lb-test.run', '--filter', 'until=30m').catch(() => undefined);
  })();
  return swept;
}

let imageReady: Promise<void> | undefined;

/** An empty image: containers bind-mount the host's /usr, /lib and /lib64 and run its node. */
function ensureBaseImage(): Promise<void> {
  imageReady ??= (async () => {
    if (await docker('image', 'inspect', baseImage).then(() => true, () => false)) return;
    const dir = mkdtempSync(join(tmpdir(), 'lb-base-'));
    try {
      await exec('tar', ['-C', dir, '-cf', `${dir}.tar`, '.']);
      await docker('import', `${dir}.tar`, baseImage);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${dir}.tar`, { force: true });
    }
  })();
  return imageReady;
}

let nodeImageReady: Promise<string> | undefined;

/**
 * A base image with the host's Node.js and npm, for building lb's Dockerfile without a registry:
 * node, npm, sh and env with their libraries, and the host's CA bundle (this machine's npm
 * registry is reached through a TLS proxy).
 */
export function nodeBaseImage(): Promise<string> {
  nodeImageReady ??= (async () => {
    const tag = 'lb-test/node:1';
    if (await docker('image', 'inspect', tag).then(() => true, () => false)) return tag;
    const root = mkdtempSync(join(tmpdir(), 'lb-node-root-'));
    try {
      const script = [
        'set -e',
        'mkdir -p usr/bin usr/lib bin lib/x86_64-linux-gnu lib64 etc/ssl/certs tmp root',
        'chmod 1777 tmp',
        'cp /usr/bin/node /usr/bin/env usr/bin/',
        'cp -a /usr/lib/node_modules usr/lib/',
        'ln -s ../lib/node_modules/npm/bin/npm-cli.js usr/bin/npm',
        'cp /bin/dash bin/sh',
        'for l in $(ldd /usr/bin/node /bin/dash /usr/bin/env | awk \'{print $3}\' | grep / | sort -u); do cp -L "$l" lib/x86_64-linux-gnu/; done',
        'cp -L /lib64/ld-linux-x86-64.so.2 lib64/',
        `cp "${process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt'}" etc/ssl/certs/ca-certificates.crt`,
        "printf 'root:x:0:0:root:/root:/bin/sh\\nnode:x:1000:1000:node:/tmp:/bin/sh\\n' > etc/passwd",
        "printf 'root:x:0:\\nnode:x:1000:\\n' > etc/group",
        `tar -cf "${root}.tar" .`,
      ].join('\n');
      await exec('sh', ['-c', script], { cwd: root, timeout: 60_000 });
      await docker('import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', `${root}.tar`, tag);
      return tag;
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(`${root}.tar`, { force: true });
    }
  })();
  return nodeImageReady;
}

const repo = new URL('../../', import.meta.url).pathname;
/** The label on every image the tests build, so that cleaning up never touches anyone else's. */
const imageLabel = 'lb-test.image';

/** A hash of what lb's Dockerfile copies: the same sources give the same image tag. */
function buildInputsHash(): string {
  const hash = createHash('sha256');
  const add = (path: string): void => {
    if (statSync(join(repo, path)).isDirectory()) {
      for (const entry of readdirSync(join(repo, path)).sort()) add(join(path, entry));
      return;
    }
    hash.update(`${path}\0`).update(readFileSync(join(repo, path))).update('\0');
  };
  for (const path of ['Dockerfile', 'package.json', 'package-lock.json', 'tsconfig.json', 'lb.yaml', 'src']) add(path);
  return hash.digest('hex').slice(0, 16);
}

/** Runs `work` while holding a lock directory, so that test files in parallel build an image once. */
async function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), `${name}.lock`);
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than any build is left from a killed run.
      const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - since > 600_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await delay(200);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

let lbImageReady: Promise<{ image: string; built: boolean }> | undefined;

/**
 * lb's image, built from the repo's Dockerfile on the local Node base image, tagged by a hash of
 * its sources and reused by later runs. The build stage is tagged too: the classic builder would
 * otherwise leave it as an untagged image on every build, and it is the cache of the next one.
 * Images of older sources are removed, with the parents only they used.
 */
export function lbImage(): Promise<{ image: string; built: boolean }> {
  lbImageReady ??= (async () => {
    const hash = buildInputsHash();
    const image = `lb-test/lb:${hash}`;
    return withLock(`lb-test-image-${hash}`, async () => {
      if (await docker('image', 'inspect', image).then(() => true, () => false)) return { image, built: false };
      const args = ['build', '-q', '--build-arg', `BASE_IMAGE=${await nodeBaseImage()}`, '--label', `${imageLabel}=lb`];
      await exec('docker', [...args, '--target', 'build', '-t', `lb-test/lb-build:${hash}`, repo], { timeout: 600_000 });
      await exec('docker', [...args, '-t', image, repo], { timeout: 600_000 });
      await removeStaleImages(hash);
      return { image, built: true };
    });
  })();
  return lbImageReady;
}

/** Removes the test images of other sources that no container uses, and untagged ones left over. */
async function removeStaleImages(current: string): Promise<void> {
  const tags = (await docker('images', '--filter', `label=${imageLabel}`, '--format', '{{.Repository}}:{{.Tag}}')).split('\n');
  const stale = tags.filter((tag) => tag.includes(':') && !tag.endsWith(`:${current}`) && !tag.endsWith(':<none>'));
  // Without -f: an image that a container (another run's) still uses stays.
  for (const tag of stale) await docker('rmi', tag).catch(() => undefined);
  await docker('image', 'prune', '-f', '--filter', `label=${imageLabel}`).catch(() => undefined);
}

export interface RunOptions {
  name?: string;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** Extra `docker run` arguments: --network, -p, --health-cmd, ... */
  args?: string[];
  /** Command after the image; default: the test backend on port 8080. */
  command?: string[];
}

/**
 * Containers and networks for one test, all tagged with a unique label and removed when the
 * test ends, pass or fail. `prefix` is a label prefix of its own, so that the lb of one test
 * never sees the containers of another running at the same time.
 */
export class DockerFixture {
  readonly run = randomBytes(4).toString('hex');
  readonly prefix = `lbt${this.run}`;
  private readonly networks: string[] = [];

  constructor(t: TestContext) {
    t.after(() => this.cleanup());
  }

  /** Labels with this fixture's prefix: `{ enable: 'true' }` → `{ 'lbt1234.enable': 'true' }`. */
  labels(short: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(short).map(([k, v]) => [`${this.prefix}.${k}`, v]));
  }

  async start(options: RunOptions = {}): Promise<string> {
    const args = ['run', '-d', '--label', `lb-test.run=${this.run}`];
    if (options.name) args.push('--name', `${options.name}-${this.run}`);
    for (const [k, v] of Object.entries(options.labels ?? {})) args.push('--label', `${k}=${v}`);
    for (const [k, v] of Object.entries(options.env ?? {})) args.push('-e', `${k}=${v}`);
    args.push('-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro', '-v', `${fixtures}:/app:ro`);
    args.push(...(options.args ?? []), baseImage, ...(options.command ?? ['/usr/bin/node', '/app/backend.cjs']));
    return docker(...args);
  }

  async network(name: string): Promise<string> {
    const full = `${name}-${this.run}`;
    await docker('network', 'create', '--label', `lb-test.run=${this.run}`, full);
    this.networks.push(full);
    return full;
  }

  async ip(id: string, network = 'bridge'): Promise<string> {
    return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, id);
  }

  async cleanup(): Promise<void> {
    const ids = (await docker('ps', '-aq', '--filter', `label=lb-test.run=${this.run}`).catch(() => '')).split('\n').filter(Boolean);
    if (ids.length) await docker('rm', '-f', ...ids).catch(() => undefined);
    for (const network of this.networks) await docker('network', 'rm', network).catch(() => undefined);
  }
}

export { eventually } from './wait.js';

/** lb with the Docker provider on, reading only this fixture's labels. */
export function startDockerLb(t: TestContext, fixture: DockerFixture, dockerSettings = '', extraYaml = ''): Promise<TestBalancer> {
  return startLb(t, lbYaml(`
providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}", ${dockerSettings} } }
${extraYaml}`));
}

/** lb_docker_connected from lb's /metrics: 1 while it holds the Docker API's event stream. */
export async function dockerConnected(adminUrl: string): Promise<number> {
  const text = await (await request(`${adminUrl}/metrics`)).body.text();
  return Number(/^lb_docker_connected (\d)/m.exec(text)![1]);
}

/** GET through lb with a Host header; resolves to "STATUS BODY". */
export async function fetchVia(lb: TestBalancer, host: string, path = '/'): Promise<string> {
  const res = await request(`${lb.url('web')}${path}`, { headers: { host } });
  return `${res.statusCode} ${await res.body.text()}`;
}

export interface DockerState {
  containers: Array<{ id: string; name: string; inPool: boolean; services: Array<{ service: string; address?: string; network?: string; why: string }>; reason?: string }>;
  labelErrors: Array<{ container: string; label: string; message: string }>;
  conflicts: string[];
  connected: boolean;
}

export async function dockerState(lb: TestBalancer): Promise<DockerState> {
  const res = await request(`${lb.url('admin')}/api/state`);
  return ((await res.body.json()) as { providers: { docker: DockerState } }).providers.docker;
}
