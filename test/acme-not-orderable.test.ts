// A router on an ACME entrypoint that cannot have a certificate (no host, or a wildcard, which
// needs dns-01) is reported in /api/state, not left silently without one; its neighbours with a
// host are still ordered.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLb } from './helpers/lb.js';
import { eventually } from './helpers/wait.js';

test('routers without a host or with a wildcard on an ACME entrypoint are reported as not orderable', async (t) => {
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const lb = await startLb(t, `
entrypoints:
  websecure: { address: "127.0.0.1:0", protocol: https, tls: { acme: le } }
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
acme:
  le: { directory: "https://127.0.0.1:1/dir", storage: "${storage}", backoff: { min: 1h, max: 2h } }
routers:
  any: { entrypoint: websecure, service: svc }
  wild: { entrypoint: websecure, match: { host: "*.example.com" }, service: svc }
  named: { entrypoint: websecure, match: { host: "app.example.com" }, service: svc }
  plain: { entrypoint: web, service: svc }
services: { svc: { servers: [ { url: "http://127.0.0.1:9" } ] } }
`);
  const state = await eventually(async () => {
    const body = (await (await fetch(`${lb.url('admin')}/api/state`)).json()) as { acme: { hosts: Array<{ host: string; state: string }>; notOrderable: Array<{ router: string; host: string | null; reason: string }> } };
    return body.acme.hosts[0]?.state === 'failed' ? body.acme : undefined;
  }, 'the named host ordered (and failing: nothing listens on the directory)');
  assert.deepEqual(state.hosts.map((h) => h.host), ['app.example.com']);
  assert.deepEqual(state.notOrderable.map((n) => [n.router, n.host]).sort(), [['any', null], ['wild', '*.example.com']]);
  assert.match(state.notOrderable.find((n) => n.router === 'wild')!.reason, /dns-01/);
  assert.match(state.notOrderable.find((n) => n.router === 'any')!.reason, /no host/);
});
