// A network namespace of the test's own, reached from the host over a veth pair: for servers that
// must misbehave at the network level (SYNs dropped by iptables inside it) without touching the
// host's own rules. Removed when the test ends. Needs root; skipped (failed in CI) without it.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { requireTool } from './tools.js';

export interface TestNamespace {
  /** The namespace's address, as the host reaches it. */
  address: string;
  /** Runs a command inside the namespace. */
  exec(command: string, args: string[]): string;
}

export function makeNamespace(t: TestContext): TestNamespace | undefined {
  if (!requireTool(t, 'ip', 'iproute2') || !requireTool(t, 'iptables', 'iptables')) return undefined;
  const probe = spawnSync('ip', ['netns', 'add', 'lb-probe-perm'], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', 'lb-probe-perm']);
  if (probe.status !== 0) {
    const message = `cannot create a network namespace (root is needed): ${probe.stderr.trim()}`;
    if (process.env.CI === 'true') throw new Error(message);
    t.skip(message);
    return undefined;
  }
  const id = randomBytes(3).toString('hex');
  const name = `lb-test-${id}`;
  // 10.233.<n>.0/30: a private range of its own, n from the id so that parallel tests differ.
  const subnet = `10.233.${parseInt(id.slice(0, 2), 16)}`;
  const host = `lbh${id}`;
  const inside = `lbn${id}`;
  const run = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    spawnSync('ip', ['link', 'del', host]);
    spawnSync('ip', ['netns', 'del', name]);
  });
  run(['netns', 'add', name]);
  run(['link', 'add', host, 'type', 'veth', 'peer', 'name', inside]);
  run(['link', 'set', inside, 'netns', name]);
  run(['addr', 'add', `${subnet}.1/30`, 'dev', host]);
  run(['link', 'set', host, 'up']);
  run(['netns', 'exec', name, 'ip', 'addr', 'add', `${subnet}.2/30`, 'dev', inside]);
  run(['netns', 'exec', name, 'ip', 'link', 'set', inside, 'up']);
  run(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  return {
    address: `${subnet}.2`,
    exec: (command, args) => execFileSync('ip', ['netns', 'exec', name, command, ...args], { encoding: 'utf8' }),
  };
}
