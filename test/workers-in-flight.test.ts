// With `workers: N` the primary's /api/state shows each server's requests in flight summed over
// the workers, from the moment a snapshot shows the server: a server whose weight changed (a new
// Backend object in the control loop) keeps its count, rather than reading 0 until the workers
// next report.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { test } from 'node:test';
import { spawnLb, type LbProcess } from './helpers/lb-process.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

function config(backendUrl: string, weight: number): string {
  return `workers: 2
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
routers: { all: { entrypoint: web, service: svc } }
services: { svc: { servers: [ { url: "${backendUrl}", weight: ${weight} } ] } }
`;
}

async function server(lb: LbProcess): Promise<{ weight: number; inFlight: number }> {
  const res = await fetch(`http://127.0.0.1:${lb.port('admin')}/api/state`, { signal: AbortSignal.timeout(10_000) });
  const state = (await res.json()) as { services: Array<{ name: string; servers: Array<{ weight: number; inFlight: number }> }> };
  return state.services.find((s) => s.name === 'svc')!.servers[0]!;
}

test('a server keeps its summed in-flight count in /api/state when a reload changes its weight', async (t) => {
  let held = 0;
  const backend = await startBackend(t, () => held++);
  const lb = await spawnLb(t, config(backend.url, 1));
  const pending = request({ port: lb.port('web'), host: '127.0.0.1', path: '/', agent: false });
  pending.on('error', () => undefined);
  pending.end();
  t.after(() => pending.destroy());
  await eventually(() => held === 1, 'the backend to hold the request');
  await eventually(async () => (await server(lb)).inFlight === 1, 'the workers to report the request in flight');

  writeFileSync(lb.configPath, config(backend.url, 2));
  const reweighted = await eventually(async () => {
    const seen = await server(lb);
    return seen.weight === 2 ? seen : undefined;
  }, 'the new weight in /api/state');
  assert.equal(reweighted.inFlight, 1, 'the first state with the new weight still counts the request in flight');
});
