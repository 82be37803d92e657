// How long the first routing snapshot takes with N labelled containers (default 200): list,
// inspect each, build. Needs a Docker engine and the lb-test/base:1 image (see test/helpers/docker.ts).
// Usage: npm run bench:docker [-- --containers 200]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { startBalancer } from '../src/lb.js';
import { createLogger } from '../src/log.js';

const exec = promisify(execFile);
const { values } = parseArgs({ options: { containers: { type: 'string', default: '200' } } });
const count = Number(values.containers);
const run = randomBytes(4).toString('hex');
const prefix = `lbb${run}`;

async function docker(...args: string[]): Promise<string> {
  return (await exec('docker', args, { timeout: 60_000 })).stdout.trim();
}

async function main(): Promise<void> {
  const created = Date.now();
  const queue = Array.from({ length: count }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        await docker('run', '-d', '--label', `lb-bench.run=${run}`, '--label', `${prefix}.enable=true`, '--label', `${prefix}.host=h${i}.example.com`, '--label', `${prefix}.port=8080`,
          '-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro', 'lb-test/base:1', '/usr/bin/sleep', 'infinity');
      }
    }),
  );
  console.log(`started ${count} containers in ${((Date.now() - created) / 1000).toFixed(1)} s`);
  const config = parseConfig(`entrypoints: { web: { address: "127.0.0.1:0" } }\nadmin: { address: "127.0.0.1:0" }\nproviders: { docker: { enabled: true, labelPrefix: "${prefix}" } }\n`, 'bench.yaml');
  for (let round = 1; round <= 3; round++) {
    const started = performance.now();
    const balancer = await startBalancer(config, createLogger('silent'));
    const ms = performance.now() - started;
    const services = [...balancer.control.snapshot.services.values()].filter((s) => s.backends.length === 1).length;
    console.log(`round ${round}: first snapshot with ${services} routed containers in ${ms.toFixed(0)} ms`);
    await balancer.stop(100);
  }
}

main()
  .catch((err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  })
  .finally(async () => {
    const ids = (await docker('ps', '-aq', '--filter', `label=lb-bench.run=${run}`)).split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 50) await docker('rm', '-f', ...ids.slice(i, i + 50));
  });
