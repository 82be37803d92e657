// What the benchmarks share: processes that are always stopped, and waiting for a port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** A scratch folder (readable by nginx's unprivileged workers) and the processes started in it. */
export function benchWorkspace(prefix: string): { work: string; start: (command: string, args: string[]) => ChildProcess } {
  const work = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(work, 0o755);
  const children: ChildProcess[] = [];
  process.on('exit', () => {
    // SIGTERM first: an nginx or HAProxy master killed outright leaves its workers behind.
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    spawnSync('sleep', ['0.5']);
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });
  process.on('SIGINT', () => process.exit(130));
  return {
    work,
    start: (command, args) => {
      const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      return child;
    },
  };
}

export async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after 10s`);
    await delay(50);
  }
}
