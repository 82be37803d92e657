// lb's own answers on a raw client socket (errors, redirects, middleware answers) are counted in
// the bytes they are sent as: a redirect whose Location has a non-ASCII character keeps the
// connection framed, and the next request on it is answered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { namedBackend } from './helpers/servers.js';

test('a redirect to a Location with a non-ASCII character has a Content-Length of the bytes sent', { timeout: 30_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(t, lbYaml(`
middlewares:
  cafe: { redirectRegex: { regex: "^http://[^/]+/old$", replacement: "http://a/café" } }
routers: { r: { entrypoint: web, service: app, middlewares: [cafe] } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`));
  const { text } = await rawRequest(lb.port('web'), 'GET /old HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 5_000);
  const [first, second] = text.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.match(first!, /^HTTP\/1\.1 302 /);
  const length = Number(/content-length: (\d+)/i.exec(first!)![1]);
  const body = first!.slice(first!.indexOf('\r\n\r\n') + 4);
  assert.equal(Buffer.byteLength(body, 'latin1'), length, `Content-Length ${length} against a body of ${Buffer.byteLength(body, 'latin1')} bytes`);
  assert.ok(second?.startsWith('HTTP/1.1 200 ') && second.endsWith('app'), `the next request on the connection is answered: ${JSON.stringify(second?.slice(0, 40))}`);
});
