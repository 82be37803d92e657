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

test('each command has its own --help', async () => {
  const validate = await lb(['validate', '--help']);
  assert.equal(validate.code, 0);
  assert.match(validate.stdout, /^lb validate: check a config file without starting anything\n\nUsage:\n {2}lb validate \[--config FILE\]/);
  assert.doesNotMatch(validate.stdout, /--log-level/);
  const run = await lb(['run', '-h']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^lb run: run the balancer/);
  assert.match(run.stdout, /--log-level LEVEL/);
});

test('a bad flag or command exits 2 with the one that was probably meant', async () => {
  const flag = await lb(['--confg', 'x.yaml']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, 'lb: unknown option --confg (did you mean "--config"?). Run "lb --help" for usage.\n');
  const command = await lb(['valdate']);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /unknown command "valdate" \(did you mean "validate"\?\)/);
  assert.equal((await lb(['launch'])).code, 2);
});

test('a missing config file names the working directory and --config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-cli-'));
  const missing = await run(process.execPath, [cliPath, 'validate'], { cwd: dir, timeout: 10_000 }).catch((err: { code: number; stderr: string }) => err);
  assert.equal((missing as { code: number }).code, 1);
  assert.equal((missing as { stderr: string }).stderr, `lb: cannot read config file lb.yaml: no such file (${join(dir, 'lb.yaml')})\nlb: the working directory is ${dir}; name the file with --config FILE (lb --help).\n`);
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
  // validate starts nothing, so it does not say so; run does.
  assert.match(bad.stderr, /has 1 error\(s\)\.\n$/);
  assert.match((await lb(['run', '--config', file])).stderr, /has 1 error\(s\); nothing was started\.\n$/);
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
