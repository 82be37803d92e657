// With `workers: 2` only the primary orders, and the http-01 token reaches the workers over IPC:
// pebble's validation lands on whichever worker accepts it, and the certificate is issued.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnLb } from './helpers/lb-process.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

test('workers: 2 — the primary orders once, the workers answer http-01', async (t) => {
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const lb = await spawnLb(t, acmeLbYaml(pebble, { webPort, storage, hosts: ['one.example.com', 'two.example.com'], extra: 'workers: 2' }));
  const admin = `http://127.0.0.1:${lb.port('admin')}`;
  const hosts = await eventually(async () => {
    const state = (await (await fetch(`${admin}/api/state`)).json()) as { acme: { hosts: Array<{ host: string; state: string }> } };
    return state.acme.hosts.length === 2 && state.acme.hosts.every((h) => h.state === 'valid') ? state.acme.hosts : undefined;
  }, 'both hosts valid', 60_000);
  assert.deepEqual(hosts.map((h) => h.host).sort(), ['one.example.com', 'two.example.com']);
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /lb_acme_orders_total\{resolver="test",result="success"\} 2\b/, 'two orders in all: the workers order nothing');
  assert.doesNotMatch(metrics, /result="failure"/, JSON.stringify(lb.logs.filter((l) => String(l.msg).includes("ACME"))));
});
