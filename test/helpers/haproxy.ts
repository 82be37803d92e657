import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { closedPort } from './servers.js';
import { eventually } from './wait.js';

/** A TCP-mode HAProxy frontend on a free loopback port, relaying to `target` with these `server` options (`send-proxy`, `send-proxy-v2`). */
export interface HaproxyRelay {
  target: number;
  serverOptions: string;
}

/** HAProxy (Debian's `haproxy`, in the foreground) with one TCP frontend per relay; resolves with their ports. */
export async function startHaproxy(t: TestContext, relays: readonly HaproxyRelay[]): Promise<number[]> {
  const ports = await Promise.all(relays.map(() => closedPort()));
  const sections = relays.map((relay, i) => [
    `frontend in${i}`,
    `  bind 127.0.0.1:${ports[i]}`,
    `  default_backend out${i}`,
    `backend out${i}`,
    `  server lb 127.0.0.1:${relay.target} ${relay.serverOptions}`,
  ].join('\n'));
  await runHaproxy(t, sections, ports);
  return ports;
}

/**
 * Runs HAProxy with these proxy sections (after TCP-mode defaults) and resolves once each of
 * `ports` accepts connections. Stopped when the test ends.
 */
export async function runHaproxy(t: TestContext, sections: readonly string[], ports: readonly number[]): Promise<void> {
  const config = ['global', '  maxconn 256', 'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s', ...sections, ''].join('\n');
  const path = join(mkdtempSync(join(tmpdir(), 'lb-haproxy-')), 'haproxy.cfg');
  writeFileSync(path, config);
  const child = spawn('haproxy', ['-db', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  for (const port of ports) {
    await eventually(() => {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
      return new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
    }, `haproxy listening on ${port}`, 10_000);
  }
}
