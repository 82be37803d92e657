// basicAuth reads its usersFile again when it changes: an added user gets in, a removed one is
// refused, without a reload of lb.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { basicAuthorization as basic, htpasswdFile, send, usersFileRouting } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';
import { requireTool } from './helpers/tools.js';
import { eventually } from './helpers/wait.js';

test('basicAuth follows changes to its users file', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'htpasswd', 'apache2-utils')) return;
  const file = htpasswdFile('lb-basic-auth-reload-', 'alice', 'pw-alice');
  const backend = await startBackend(t, (_req, res) => res.end('in'));
  const lb = await startLb(t, lbYaml(usersFileRouting(file, backend.url)));
  const status = async (user: string, password: string) => (await send(lb.port('web'), 'fast', '/', { headers: [basic(user, password)] })).status;
  assert.equal(await status('alice', 'pw-alice'), 200);
  assert.equal(await status('bob', 'pw-bob'), 401);
  execFileSync('htpasswd', ['-b', '-m', file, 'bob', 'pw-bob'], { stdio: 'pipe' });
  execFileSync('htpasswd', ['-D', file, 'alice'], { stdio: 'pipe' });
  // Two changes to the file, which lb may see one at a time: wait for both.
  await eventually(async () => (await status('bob', 'pw-bob')) === 200 && (await status('alice', 'pw-alice')) === 401, 'bob, added to the file, to get in, and alice, removed (her remembered credentials too), to be refused');
});
