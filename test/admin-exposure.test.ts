import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { configErrors, lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';

// The admin API shows every route and server. Off loopback it needs a token, or a statement that
// something else guards it (admin.insecure); and what it shows never includes a secret.

const web = 'entrypoints: { web: { address: "127.0.0.1:8080" } }\n';

test('off loopback, the admin API needs admin.token or admin.insecure: true', () => {
  for (const address of ['0.0.0.0:9090', '[::]:9090', '10.0.0.5:9090', ':9090']) {
    const found = configErrors(`${web}admin: { address: "${address}" }\n`);
    assert.equal(found.length, 1, address);
    assert.match(found[0]!, /^lb\.yaml:2:\d+: admin\.address: the admin API on .+ would be open to anyone who can reach it: set admin\.token/);
  }
  // Accepted: parseConfig throws on any error.
  parseConfig(`${web}admin: { address: "0.0.0.0:9090", token: "a-long-enough-admin-token" }\n`, 'lb.yaml');
  parseConfig(`${web}admin: { address: "0.0.0.0:9090", insecure: true }\n`, 'lb.yaml');
  for (const address of ['127.0.0.1:9090', '127.0.0.53:9090', '[::1]:9090', 'localhost:9090']) parseConfig(`${web}admin: { address: "${address}" }\n`, 'lb.yaml');
});

test('/api/state and the dashboard never show the admin token, ACME keys or paths to keys', async (t) => {
  const token = 'secret-admin-token-0123456789';
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  t.after(() => rmSync(storage, { recursive: true, force: true }));
  const lb = await startLb(t, lbYaml(`
acme: { le: { directory: "https://127.0.0.1:1/dir", storage: "${storage}", email: ops@example.com } }
`, { admin: `token: "${token}"` }));
  const state = await (await request(`${lb.url('admin')}/api/state`, { headers: { authorization: `Bearer ${token}` } })).body.text();
  const page = await (await request(`${lb.url('admin')}/?token=${token}`)).body.text();
  for (const [name, text] of [['/api/state', state], ['/', page]] as const) {
    assert.ok(!text.includes(token), `${name} shows the admin token`);
    assert.doesNotMatch(text, /PRIVATE KEY|"accountKey"|keyFile/i, `${name} shows key material`);
  }
  assert.match(state, /"resolvers"/, 'the ACME state is there, without its keys');
});
