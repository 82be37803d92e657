// basicAuth checks users from a file written by Debian's htpasswd (bcrypt, Apache MD5, SHA1) and
// inline ones: 401 with WWW-Authenticate without valid credentials; with them the request goes
// on without Authorization (unless removeHeader: false), and the user is in the access log.
// /api/state names the middleware, never its users.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, requestPaths, send } from './helpers/middleware.js';
import { requireTool } from './helpers/tools.js';

const basic = (user: string, password: string) => `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('basicAuth with htpasswd -B, -m and -s entries and inline users', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'htpasswd', 'apache2-utils')) return;
  const dir = mkdtempSync(join(tmpdir(), 'lb-basic-auth-'));
  const file = join(dir, 'htpasswd');
  execFileSync('htpasswd', ['-c', '-b', '-B', file, 'bcrypt-user', 'pw-bcrypt'], { stdio: 'pipe' });
  execFileSync('htpasswd', ['-b', '-m', file, 'md5-user', 'pw-md5'], { stdio: 'pipe' });
  execFileSync('htpasswd', ['-b', '-s', file, 'sha-user', 'pw-sha'], { stdio: 'pipe' });
  const inline = execFileSync('htpasswd', ['-n', '-b', '-B', 'ops', 'pw-inline'], { encoding: 'utf8' }).trim();
  const log = join(dir, 'access.log');
  const backend = await echoBackend(t);
  const lb = await startLb(t, lbYaml(`
accessLog: { enabled: true, path: "${log}" }
middlewares:
  auth: { basicAuth: { usersFile: "${file}", users: ["${inline}"], realm: admin } }
  pass-on: { basicAuth: { users: ["${inline}"], removeHeader: false } }
routers:
  admin: { entrypoint: web, service: svc, match: { host: admin.test }, middlewares: [auth] }
  keep: { entrypoint: web, service: svc, match: { host: keep.test }, middlewares: [pass-on] }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`));
  const port = lb.port('web');
  for (const path of requestPaths) {
    for (const [user, password] of [['bcrypt-user', 'pw-bcrypt'], ['md5-user', 'pw-md5'], ['sha-user', 'pw-sha'], ['ops', 'pw-inline']] as const) {
      // Twice: the second is answered from the remembered credentials.
      for (let round = 0; round < 2; round++) {
        const res = await send(port, path, '/', { host: 'admin.test', headers: [basic(user, password)] });
        assert.equal(res.status, 200, `${path}: ${user}`);
        assert.equal(echoed(res).headers.authorization, undefined, `${path}: Authorization is not forwarded`);
      }
    }
    for (const headers of [[basic('bcrypt-user', 'wrong')], [basic('md5-user', 'pw-bcrypt')], [basic('nobody', 'pw-sha')], [], ['Authorization: Bearer abc']]) {
      const res = await send(port, path, '/', { host: 'admin.test', headers });
      assert.equal(res.status, 401, `${path}: ${headers.join()}`);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="admin"', path);
    }
    const kept = await send(port, path, '/', { host: 'keep.test', headers: [basic('ops', 'pw-inline')] });
    assert.equal(echoed(kept).headers.authorization, basic('ops', 'pw-inline').slice('Authorization: '.length), `${path}: removeHeader: false forwards it`);
    assert.equal((await send(port, path, '/', { host: 'keep.test', headers: [basic('ops', 'pw-md5')] })).status, 401, path);
  }
  const state = await (await request(`${lb.url('admin')}/api/state`)).body.text();
  assert.deepEqual((JSON.parse(state) as { middlewares: unknown }).middlewares, [{ name: 'auth@file', type: 'basicAuth' }, { name: 'pass-on@file', type: 'basicAuth' }]);
  for (const secret of ['bcrypt-user', 'ops', '$2y$', '$apr1$', '{SHA}', 'htpasswd']) assert.ok(!state.includes(secret), `/api/state does not show ${secret}`);
  await lb.stop(100);
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { status: number; user?: string; router: string });
  assert.deepEqual(lines.filter((l) => l.status === 200 && l.router === 'admin').map((l) => l.user).sort(), ['bcrypt-user', 'bcrypt-user', 'md5-user', 'md5-user', 'ops', 'ops', 'sha-user', 'sha-user'].flatMap((u) => [u, u]).sort());
  assert.ok(lines.filter((l) => l.status === 401).every((l) => l.user === undefined), 'a refused request names no user');
});
