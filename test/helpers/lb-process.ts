import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { eventually } from './wait.js';

export const cliPath = new URL('../../dist/cli.js', import.meta.url).pathname;

export interface LbProcess {
  child: ChildProcess;
  /** The config file it runs on (rewrite it to test reloads). */
  configPath: string;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  /** Actual port of an entrypoint or `admin`, from the startup log. */
  port(name: string): number;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** VmRSS and VmHWM (peak) of the process in bytes, from /proc. */
  memory(): { rss: number; peak: number };
  /** Resolves with the first log line whose `msg` is `msg` (seen so far or to come); fails after `timeoutMs`. */
  logged(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Runs the built CLI (`dist/cli.js`) on a temporary config; killed when the test ends. */
export function spawnLb(t: TestContext, yaml: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<LbProcess> {
  return launchLb(t, yaml, (configPath) => [process.execPath, [cliPath, 'run', '--config', configPath, ...extraArgs]], env);
}

/**
 * Runs lb by `command` (given the config file's path) until it logs that it started. The command
 * runs in a process group of its own, killed whole when the test ends: lb's workers, and lb under
 * a wrapper such as npm, go with it.
 */
export async function launchLb(t: TestContext, yaml: string, command: (configPath: string) => [string, string[]], env: NodeJS.ProcessEnv = process.env): Promise<LbProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-test-'));
  const configPath = join(dir, 'lb.yaml');
  writeFileSync(configPath, yaml);
  const [file, args] = command(configPath);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lb did not start within 10s; stderr: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ unparsed: line });
      }
      if (logs.at(-1)!.msg === 'lb started') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`lb exited with ${code} before starting; stderr: ${stderr}`));
    });
  });
  await started;
  const port = (name: string) => {
    const line = logs.find((l) => (name === 'admin' ? String(l.msg).startsWith('admin API listening') : l.entrypoint === name && l.msg === 'entrypoint listening'));
    if (!line) throw new Error(`no listening log line for ${name}`);
    return Number(String(line.address).split(':').at(-1));
  };
  const memory = () => {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
    return { rss: field('VmRSS'), peak: field('VmHWM') };
  };
  const logged = (msg: string, timeoutMs = 10_000) => eventually(() => logs.find((l) => l.msg === msg), `the log line "${msg}"`, timeoutMs);
  return { child, configPath, logs, port, exited, memory, logged };
}

/** The pids of the data-plane workers of an lb run with `workers: N` (the primary's children). */
export function workerPids(lb: LbProcess): number[] {
  return spawnSync('pgrep', ['-P', String(lb.child.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
}

/** Which process holds the server side of a connection from `clientPort` to `serverPort` (Linux /proc). */
export function connectionOwner(pids: number[], serverPort: number, clientPort: number): number | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex(serverPort)}`) && fields[2]?.endsWith(`:${hex(clientPort)}`)) inode = fields[9];
    }
  }
  if (!inode) return undefined;
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // The fd closed meanwhile.
      }
    }
  }
  return undefined;
}
