import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

// What `npm pack` ships is a working lb: its bin runs, and its bundled lb.yaml validates with the
// JSON Schema it names beside it. Unpacked with the repo's node_modules, since a test must not
// reach the npm registry.

const run = promisify(execFile);
const repo = new URL('..', import.meta.url).pathname;

test('the npm package holds a working lb bin, lb.yaml and lb.schema.json', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', dir], { cwd: repo, timeout: 40_000 });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = new Set(packed!.files.map((f) => f.path));
  for (const file of ['package.json', 'lb.yaml', 'lb.schema.json', 'dist/cli.js']) assert.ok(files.has(file), `${file} is in the package`);
  assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources and tests stay out of the package');

  await run('tar', ['-xzf', join(dir, packed!.filename), '-C', dir], { timeout: 20_000 });
  const unpacked = join(dir, 'package');
  symlinkSync(join(repo, 'node_modules'), join(unpacked, 'node_modules'));
  const pkg = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { version: string; bin: { lb: string } };
  const bin = join(unpacked, pkg.bin.lb);
  assert.equal((await run(process.execPath, [bin, '--version'], { timeout: 10_000 })).stdout.trim(), pkg.version);
  const validated = await run(process.execPath, [bin, 'validate', '--config', join(unpacked, 'lb.yaml')], { timeout: 10_000 });
  assert.match(validated.stdout, /lb\.yaml: ok/);
  assert.match(readFileSync(join(unpacked, 'lb.yaml'), 'utf8'), /^# yaml-language-server: \$schema=\.\/lb\.schema\.json\n/);
});
