// The ACME server is down when lb starts: the host shows `failed` with the error and the next
// attempt in /api/state, the failure is counted, lb backs off, and once the server is up the
// certificate comes with no other step.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

interface HostView {
  host: string;
  state: string;
  lastError: string | null;
  nextAttempt: string | null;
}

test('an ACME server that is down at start: failed with its error, backoff, then a certificate once it is up', async (t) => {
  const webPort = await closedPort();
  const pebble = await startPebble(t, { httpPort: webPort }, false);
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const lb = await startLb(t, acmeLbYaml(pebble, { webPort, storage, hosts: ['app.example.com'] }));
  const host = async () => ((await (await fetch(`${lb.url('admin')}/api/state`)).json()) as { acme: { hosts: HostView[] } }).acme.hosts[0];

  const failed = await eventually(async () => {
    const view = await host();
    return view?.state === 'failed' ? view : undefined;
  }, 'the host in state failed', 15_000);
  assert.match(failed.lastError ?? '', /ECONNREFUSED/);
  assert.ok(failed.nextAttempt && Date.parse(failed.nextAttempt) > Date.now() - 1_000);
  await eventually(async () => /lb_acme_orders_total\{resolver="test",result="failure"\} [2-9]/.test(await (await fetch(`${lb.url('admin')}/metrics`)).text()), 'a retry after the backoff, failing too', 15_000);

  await pebble.start();
  const valid = await eventually(async () => {
    const view = await host();
    return view?.state === 'valid' ? view : undefined;
  }, 'a certificate once pebble is up', 60_000);
  assert.equal(valid.lastError, null);
  assert.equal(valid.nextAttempt, null);
});
