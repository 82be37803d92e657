// A basicAuth users file that goes bad after load is logged, once even with workers, and the users
// read before keep working: a line lb cannot use is left out with its line number, and a file that
// is gone (or cannot be read) keeps the users it had.
import assert from 'node:assert/strict';
import { appendFileSync, rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { spawnLb } from './helpers/lb-process.js';
import { basicAuthorization as basic, htpasswdFile, send, usersFileRouting } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';
import { requireTool } from './helpers/tools.js';

test('a users file that goes bad is logged once, and its users stay', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'htpasswd', 'apache2-utils')) return;
  const file = htpasswdFile('lb-basic-auth-problems-', 'alice', 'pw-alice');
  const backend = await startBackend(t, (_req, res) => res.end('in'));
  const lb = await spawnLb(t, lbYaml(`workers: 2
${usersFileRouting(file, backend.url)}`));
  const status = async (user: string, password: string) => (await send(lb.port('web'), 'fast', '/', { headers: [basic(user, password)] })).status;
  assert.equal(await status('alice', 'pw-alice'), 200);

  appendFileSync(file, 'bob:plaintext-password\n');
  const leftOut = await lb.logged('users file line left out: user "bob": unsupported hash; use bcrypt (htpasswd -B), Apache MD5 (htpasswd -m) or SHA1 (htpasswd -s)');
  assert.equal(leftOut.level, 'warn');
  assert.equal(leftOut.line, 2);
  assert.equal(leftOut.middleware, 'auth@file');
  assert.equal(leftOut.usersFile, file);
  assert.equal(await status('alice', 'pw-alice'), 200, 'the usable line still counts');
  assert.equal(await status('bob', 'plaintext-password'), 401, 'the unusable line lets nobody in');

  rmSync(file);
  const unreadable = await lb.logged('users file cannot be read; the users read before stay');
  assert.equal(unreadable.level, 'warn');
  assert.equal(unreadable.err, 'ENOENT');
  assert.equal(await status('alice', 'pw-alice'), 200, 'alice, read before, still gets in');
  assert.equal(await status('mallory', 'x'), 401);
  // Every worker reads the file too; the primary alone reports it.
  await delay(1_500);
  assert.equal(lb.logs.filter((l) => l.msg === unreadable.msg).length, 1, 'reported once, not once per worker');
});
