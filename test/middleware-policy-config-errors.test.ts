// Bad rateLimit, inFlightReq, compress and forwardAuth settings are lb validate errors at
// file:line, naming the key to fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configErrors, lbYaml } from './helpers/config.js';

test('bad rateLimit, inFlightReq, compress and forwardAuth settings are errors at file:line', () => {
  const errors = configErrors(lbYaml(`
middlewares:
  noavg: { rateLimit: { burst: 5 } }
  both: { rateLimit: { average: 5, sourceCriterion: { ipStrategy: { depth: 1 }, requestHeaderName: X-Key } } }
  period: { rateLimit: { average: 5, period: 10 } }
  zero: { inFlightReq: { amount: 0 } }
  enc: { compress: { encodings: [br, deflate] } }
  type: { compress: { includedContentTypes: [JSON] } }
  addr: { forwardAuth: { address: "auth:4181/verify" } }
  header: { forwardAuth: { address: "http://auth/verify", authResponseHeaders: ["X User"] } }
routers: { r: { entrypoint: web, service: svc, middlewares: [noavg] } }
services: { svc: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`));
  const expect = (pattern: RegExp) => assert.ok(errors.some((e) => pattern.test(e)), `expected an error matching ${pattern}, got:\n${errors.join('\n')}`);
  expect(/^lb\.yaml:5:\d+: middlewares\.noavg\.rateLimit: missing required key "average"/);
  expect(/^lb\.yaml:6:\d+: middlewares\.both\.rateLimit\.sourceCriterion: sourceCriterion takes one of ipStrategy and requestHeaderName/);
  expect(/^lb\.yaml:7:\d+: middlewares\.period\.rateLimit\.period: expected a duration/);
  expect(/^lb\.yaml:8:\d+: middlewares\.zero\.inFlightReq\.amount: /);
  expect(/^lb\.yaml:9:\d+: middlewares\.enc\.compress\.encodings\[1\]: /);
  expect(/^lb\.yaml:10:\d+: middlewares\.type\.compress\.includedContentTypes\[0\]: expected a lower-case media type/);
  expect(/^lb\.yaml:11:\d+: middlewares\.addr\.forwardAuth\.address: expected an http:\/\/ or https:\/\/ URL/);
  expect(/^lb\.yaml:12:\d+: middlewares\.header\.forwardAuth\.authResponseHeaders\[0\]: a header name is an HTTP token/);
  assert.equal(errors.length, 8, errors.join('\n'));
});
