// `npm run fuzz`: runs each coverage-guided fuzz target (test/fuzz/targets/<name>.fuzz.ts) under
// Jazzer.js (libFuzzer) for a set time, starting from its corpus in test/fuzz/corpus/<name>/, and
// fails when a target throws: a crash or a broken property. New inputs go to a scratch folder,
// so the committed corpus changes only with --merge, which adds to it what covers more,
// minimized (with --seed, from the tests' seed inputs of test/fuzz/seed.ts first).
//   npm run fuzz -- [--seconds 60] [--target NAME]... [--merge] [--seed]
// A crash's input is saved as test-artifacts/fuzz/<name>-crash-<sha1>.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureJazzerLoads } from './jazzer-glibc-compat.js';
import { seeds, writeSeeds } from './seed.js';

const root = resolve(import.meta.dirname, '../..');
const targetsDir = join(root, 'test/fuzz/targets');
const corpusDir = join(root, 'test/fuzz/corpus');
const artifacts = join(root, 'test-artifacts/fuzz');
const all = readdirSync(targetsDir).filter((f) => f.endsWith('.fuzz.ts')).map((f) => f.slice(0, -'.fuzz.ts'.length)).sort();

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: process.env.LB_FUZZ_SECONDS ?? '60' },
    target: { type: 'string', multiple: true },
    merge: { type: 'boolean', default: false },
    seed: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`--seconds: a whole number of seconds, got "${values.seconds}"`);
const targets = values.target ?? all;
for (const t of targets) if (!all.includes(t)) throw new Error(`--target: no target "${t}" (targets: ${all.join(', ')})`);

interface Outcome {
  target: string;
  code: number | null;
  executions: number;
  corpus: number;
  tail: string;
}

/** Runs Jazzer.js on one target; `corpora`: the folder new inputs go to first, then those read. */
function jazzer(target: string, corpora: string[], libfuzzer: string[], limitSeconds: number): Promise<Outcome> {
  const args = [
    join(root, 'node_modules/@jazzer.js/core/dist/cli.js'),
    // Jazzer.js adds ".js" to the target's name; tsx resolves that to the .ts file.
    join(targetsDir, `${target}.fuzz`),
    ...corpora,
    '--sync',
    // Coverage of lb's own code guides the fuzzer: the targets and test helpers are not counted.
    '--includes', `${join(root, 'src')}/`,
    '--disable_bug_detectors', '.*',
    '--',
    '-print_final_stats=1',
    '-max_len=4096',
    `-artifact_prefix=${artifacts}/${target}-`,
    ...libfuzzer,
  ];
  return new Promise((done, fail) => {
    // tsx through NODE_OPTIONS: libFuzzer's merge runs the same command line again, as a child.
    const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import tsx`.trim() };
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    // A target that hangs past libFuzzer's own limits is a failure too; its whole group is ended.
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), limitSeconds * 1000);
    // All of it, not a tail: the closing stats are read from it, after any amount of progress lines.
    const chunks: Buffer[] = [];
    const keep = (chunk: Buffer) => chunks.push(chunk);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      const output = Buffer.concat(chunks).toString();
      // The closing stats come after the recommended dictionary, which can be long enough to be
      // cut off when the run ends on a loaded machine; libFuzzer's progress lines (#N DONE, pulse,
      // NEW ...) count executions too.
      const progress = Math.max(0, ...[...output.matchAll(/^#(\d+)\s/gm)].map((m) => Number(m[1])));
      const executions = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1] ?? progress);
      const corpus = Number([...output.matchAll(/corp: (\d+)\//g)].at(-1)?.[1] ?? 0);
      done({ target, code, executions, corpus, tail: output.split('\n').slice(-40).join('\n') });
    });
  });
}

if (ensureJazzerLoads()) console.log('jazzer.js: its addon was rebound to this system\'s glibc and libstdc++ (test/fuzz/jazzer-glibc-compat.ts)');
mkdirSync(artifacts, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'lb-fuzz-'));
const results: Outcome[] = [];
try {
  if (values.seed) writeSeeds(join(scratch, 'seeds'), await seeds());
  for (const target of targets) {
    const committed = join(corpusDir, target);
    mkdirSync(committed, { recursive: true });
    const found = join(scratch, target);
    mkdirSync(found);
    const sources = values.seed ? [committed, join(scratch, 'seeds', target)] : [committed];
    console.log(`fuzzing ${target} for ${seconds} s`);
    const run = await jazzer(target, [found, ...sources], [`-max_total_time=${seconds}`, '-timeout=10'], seconds + 120);
    // A run that reports no executions tested nothing: a failure too.
    if (run.code === 0 && run.executions === 0) run.code = -1;
    results.push(run);
    if (run.code !== 0) {
      console.log(run.tail);
      continue;
    }
    if (values.merge) {
      const merged = await jazzer(target, [committed, found, ...sources.slice(1)], ['-merge=1'], 300);
      if (merged.code !== 0) {
        console.log(merged.tail);
        results.push({ ...merged, target: `${target} (merge)` });
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

console.log('\ntarget            executions   corpus  result');
for (const r of results) console.log(`${r.target.padEnd(16)} ${String(r.executions).padStart(11)}  ${String(r.corpus).padStart(7)}  ${r.code === 0 ? 'ok' : r.code === -1 ? 'FAILED (no executions reported)' : `FAILED (exit ${r.code})`}`);
const failed = results.filter((r) => r.code !== 0);
console.log(failed.length ? `${failed.length} of ${results.length} fuzz runs failed; inputs in ${artifacts}` : `${results.length} targets, no crash and no broken property`);
process.exitCode = failed.length ? 1 : 0;
