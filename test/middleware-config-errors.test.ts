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
  framing: { headers: { customRequestHeaders: { Content-Length: "0" }, customResponseHeaders: { HTTP2-Settings: x } } }
  wide: { headers: { customRequestHeaders: { X-B: "a\u010d\u010aX-Injected: 1" } } }
  target: { replacePathRegex: { regex: "^/api/(.*)", replacement: "/$1 HTTP/1.1\\r\\nX-Evil: 1" } }
  wideLocation: { redirectRegex: { regex: "^http://a/(.*)", replacement: "http://b/\u010aSet-Cookie: x=1" } }
  widerealm: { basicAuth: { users: ["ops:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="], realm: "a\u010a" } }
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
  // Node's http2 refuses to send it: an edit of it would break every HTTP/2 answer.
  expect(/^lb\.yaml:14:\d+: middlewares\.framing\.headers\.customResponseHeaders\.HTTP2-Settings: HTTP2-Settings frames/);
  // A head is written as latin1, which keeps a character's low byte: U+010D and U+010A would be CR and LF.
  expect(/^lb\.yaml:15:\d+: middlewares\.wide\.headers\.customRequestHeaders\.X-B: a header value has no line breaks, NUL, control characters or characters beyond U\+00FF/);
  expect(/^lb\.yaml:16:\d+: middlewares\.target\.replacePathRegex\.replacement: a replacement is a URL: visible ASCII without spaces/);
  expect(/^lb\.yaml:17:\d+: middlewares\.wideLocation\.redirectRegex\.replacement: a header value has no line breaks/);
  expect(/^lb\.yaml:18:\d+: middlewares\.widerealm\.basicAuth\.realm: a realm has no quotes/);
  expect(/^lb\.yaml:20:\d+: routers\.r\.middlewares\[0\]: middleware "ghost" is not defined/);
  // A middleware of another provider comes and goes with it: not an error at load.
  assert.ok(!errors.some((e) => /elsewhere/.test(e)), errors.join('\n'));
  assert.ok(!errors.some((e) => /routers\.r\.middlewares\[1\]/.test(e)), 'both@file is defined (though invalid, which is said once, at its own line)');
});
