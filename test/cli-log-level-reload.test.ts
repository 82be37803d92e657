// `--log-level` wins over lb.yaml's `log.level` for the life of the process: after reloads, and in
// every data-plane worker. Runs the built CLI (dist/).
import { writeFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { spawnLb, type LbProcess } from './helpers/lb-process.js';
import { rawRequest } from './helpers/raw-http.js';
import { namedBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

/** Two Content-Length headers: llhttp refuses the request and lb logs that at debug. */
const malformed = 'GET / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx';

function config(backendUrl: string, workers: number, comment: string): string {
  return `# ${comment}
workers: ${workers}
log: { level: info }
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
routers: { all: { entrypoint: web, service: svc } }
services: { svc: { servers: [ { url: "${backendUrl}" } ] } }
`;
}

/** Sends a malformed request and waits for lb's debug line about it (the n-th one so far). */
async function debugLineFor(lb: LbProcess, n: number, when: string): Promise<void> {
  await rawRequest(lb.port('web'), malformed);
  await eventually(() => lb.logs.filter((line) => line.level === 'debug' && line.msg === 'rejected malformed request').length >= n, `a debug line ${when}`);
}

async function reload(lb: LbProcess, backendUrl: string, workers: number, how: 'file' | 'SIGHUP', n: number): Promise<void> {
  if (how === 'file') writeFileSync(lb.configPath, config(backendUrl, workers, `edit ${n}`));
  else lb.child.kill('SIGHUP');
  await eventually(() => lb.logs.filter((line) => line.msg === 'configuration reloaded').length >= n, `reload ${n} (${how})`);
}

async function keepsDebugAcrossReloads(t: TestContext, workers: number): Promise<void> {
  const backend = await namedBackend(t, 'ok');
  const lb = await spawnLb(t, config(backend.url, workers, 'first'), ['--log-level', 'debug']);
  await debugLineFor(lb, 1, 'before any reload');
  await reload(lb, backend.url, workers, 'file', 1);
  await debugLineFor(lb, 2, 'after the file changed');
  await reload(lb, backend.url, workers, 'SIGHUP', 2);
  await debugLineFor(lb, 3, 'after SIGHUP');
}

test('--log-level debug over log.level info survives a file reload and SIGHUP', (t) => keepsDebugAcrossReloads(t, 1));

test('--log-level debug reaches the workers of workers: 2, and survives their reloads', (t) => keepsDebugAcrossReloads(t, 2));
