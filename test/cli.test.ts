import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { oneServiceConfig } from './helpers/lb.js';
import { cliPath, spawnLb } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';

const run = promisify(execFile);

async function lb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, ...args], { timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function tempConfig(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'lb-cli-')), 'lb.yaml');
  writeFileSync(file, yaml);
  return file;
}

test('--help and --version', async () => {
  const help = await lb(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage:\n {2}lb \[run\] \[--config FILE\]/);
  assert.match(help.stdout, /lb validate/);
  const version = await lb(['--version']);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
});

test('a bad flag or command exits 2 with a hint', async () => {
  const flag = await lb(['--confg', 'x.yaml']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Run "lb --help"/);
  assert.equal((await lb(['launch'])).code, 2);
});

test('validate: 0 for a good file, 1 with file:line:col errors for a bad one', async () => {
  const good = await lb(['validate', '--config', new URL('../lb.yaml', import.meta.url).pathname]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /ok \(2 entrypoints/);
  const file = tempConfig('entrypoints:\n  web: { address: "127.0.0.1:8080" }\nservices:\n  app: { balancer: round_robn }\n');
  const bad = await lb(['validate', '--config', file]);
  assert.equal(bad.code, 1);
  assert.ok(bad.stderr.includes(`${file}:4:20: services.app.balancer: must be one of`), bad.stderr);
  assert.match(bad.stderr, /did you mean "round_robin"\?/);
  const missing = await lb(['validate', '--config', '/nonexistent/lb.yaml']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read config file \/nonexistent\/lb\.yaml/);
});

test('run: serves traffic, logs JSON lines, stops on SIGTERM with exit 0', async (t) => {
  const backend = await namedBackend(t, 'hello');
  const proc = await spawnLb(t, oneServiceConfig(backend.url), ['--log-level', 'debug']);
  const res = await request(`http://127.0.0.1:${proc.port('web')}/`);
  assert.equal(await res.body.text(), 'hello');
  const health = await request(`http://127.0.0.1:${proc.port('admin')}/healthz`);
  assert.equal(health.statusCode, 200);
  await health.body.text();
  for (const line of proc.logs) {
    assert.equal(typeof line.level, 'string');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
    assert.equal(typeof line.msg, 'string');
  }
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
  assert.ok(proc.logs.some((l) => l.msg === 'stopped'));
});

test('run: an address in use fails clearly and starts nothing', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const file = tempConfig(`entrypoints:\n  a: { address: "127.0.0.1:0" }\n  b: { address: "127.0.0.1:${port}" }\nadmin: { address: "127.0.0.1:0" }\n`);
  const result = await lb(['run', '--config', file]);
  assert.equal(result.code, 1);
  const fatal = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'fatal');
  assert.equal(fatal?.code, 'LB_LISTEN_FAILED');
  assert.match(String(fatal?.msg), new RegExp(`cannot listen for entrypoint b on 127\\.0\\.0\\.1:${port}: another process already listens there`));
});
