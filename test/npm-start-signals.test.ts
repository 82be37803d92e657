import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig } from './helpers/lb.js';
import { launchLb } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';

// Supervisors and terminals signal the process they started: under `npm start` that is npm, and
// the signal must reach lb (npm's script shell execs it), which then drains and exits.

const repo = new URL('..', import.meta.url).pathname;

test('npm start: a SIGINT or SIGTERM sent to npm stops lb gracefully', { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'hello');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // npm passes what follows `--` on to lb; the last --config wins over the script's own.
    const lb = await launchLb(t, oneServiceConfig(backend.url), (config) => ['npm', ['start', '--silent', '--', '--config', config]], { ...process.env, npm_config_update_notifier: 'false' });
    const res = await request(`http://127.0.0.1:${lb.port('web')}/`);
    assert.equal(await res.body.text(), 'hello');
    lb.child.kill(signal);
    await lb.logged('stopped', 15_000);
    assert.equal(await lb.exited, 0, `npm exits 0 after lb stopped on ${signal}`);
  }
});
