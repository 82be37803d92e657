// A bad middleware in lb.yaml is refused by lb validate at its file:line, with the key to fix.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configErrors, lbYaml } from './helpers/config.js';

test('bad middlewares and references to undefined ones are lb validate errors at file:line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-mw-errors-'));
  const badFile = join(dir, 'htpasswd');
  writeFileSync(badFile, 'alice:plaintext\n');
  const errors = configErrors(lbYaml(`
middlewares:
  both: { headers: { customRequestHeaders: { X-A: "1" } }, stripPrefix: { prefixes: [/a] } }
  none: {}
  typo: { stripPrefx: { prefixes: [/a] } }
  regex: { replacePathRegex: { regex: "(", replacement: "/" } }
  nousers: { basicAuth: { realm: x } }
  badfile: { basicAuth: { usersFile: "${badFile}" } }
  nofile: { basicAuth: { usersFile: "${join(dir, 'missing')}" } }
  inject: { headers: { customResponseHeaders: { X-A: "a\\r\\nSet-Cookie: x=1" } } }
  range: { ipAllowList: { sourceRange: [10.0.0.0/33] } }
  framing: { headers: { customRequestHeaders: { Content-Length: "0" } } }
routers:
  r: { entrypoint: web, service: svc, middlewares: [ghost, both@file, elsewhere@docker] }
services: { svc: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`));
  const expect = (pattern: RegExp) => assert.ok(errors.some((e) => pattern.test(e)), `expected an error matching ${pattern}, got:\n${errors.join('\n')}`);
  expect(/^lb\.yaml:5:\d+: middlewares\.both: a middleware has exactly one type, got headers and stripPrefix/);
  expect(/^lb\.yaml:6:\d+: middlewares\.none: a middleware needs one type/);
  expect(/^lb\.yaml:7:\d+: middlewares\.typo\.stripPrefx: unknown key "stripPrefx" \(did you mean "stripPrefix"\?\)/);
  expect(/^lb\.yaml:8:\d+: middlewares\.regex\.replacePathRegex\.regex: invalid regular expression/);
  expect(/^lb\.yaml:9:\d+: middlewares\.nousers\.basicAuth: basicAuth needs users/);
  expect(/^lb\.yaml:10:\d+: middlewares\.badfile\.basicAuth\.usersFile: .*htpasswd:1: user "alice": unsupported hash/);
  expect(/^lb\.yaml:11:\d+: middlewares\.nofile\.basicAuth\.usersFile: cannot read .*missing: ENOENT/);
  expect(/^lb\.yaml:12:\d+: middlewares\.inject\.headers\.customResponseHeaders\.X-A: a header value has no line breaks/);
  expect(/^lb\.yaml:13:\d+: middlewares\.range\.ipAllowList\.sourceRange\[0\]: expected an IP address or CIDR/);
  expect(/^lb\.yaml:14:\d+: middlewares\.framing\.headers\.customRequestHeaders\.Content-Length: Content-Length frames the message/);
  expect(/^lb\.yaml:16:\d+: routers\.r\.middlewares\[0\]: middleware "ghost" is not defined/);
  // A middleware of another provider comes and goes with it: not an error at load.
  assert.ok(!errors.some((e) => /elsewhere/.test(e)), errors.join('\n'));
  assert.ok(!errors.some((e) => /routers\.r\.middlewares\[1\]/.test(e)), 'both@file is defined (though invalid, which is said once, at its own line)');
});
