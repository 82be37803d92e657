// A headers middleware's edit of an X-Forwarded-* header that lb writes replaces lb's line, and
// an empty value removes it (Traefik's behaviour; X-Forwarded-Proto: https is the usual case,
// behind a TLS terminator lb cannot see). The server never gets two lines of one of them, on
// the fast path, Node's parser or HTTP/2, from a trusted proxy or from any client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { parseResponse, requestPaths } from './helpers/middleware.js';
import { rawRequest } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

/** The X-Forwarded-* lines the server got, lower-cased names with their values, in order. */
type ForwardedLines = Array<[string, string]>;

test('an edit of an X-Forwarded-* header replaces or removes lb\'s own line of it', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    const lines: ForwardedLines = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (name.startsWith('x-forwarded-')) lines.push([name, req.rawHeaders[i + 1]!]);
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(lines));
  });
  const lb = await startLb(t, lbYaml(`
middlewares:
  behind-tls: { headers: { customRequestHeaders: { X-Forwarded-Proto: https, X-Forwarded-For: "", X-Forwarded-Port: "443" } } }
routers:
  edited: { entrypoint: web, match: { host: edited.test }, service: svc, middlewares: [behind-tls] }
  plain: { entrypoint: web, match: { host: plain.test }, service: svc }
  h2: { entrypoint: h2, service: svc, middlewares: [behind-tls] }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'trustedProxies: ["127.0.0.1/32"]', entrypoints: { h2: 'http2: { cleartext: true }' } }));
  const expected: ForwardedLines = [['x-forwarded-proto', 'https'], ['x-forwarded-port', '443'], ['x-forwarded-host', 'edited.test']];
  const sorted = (lines: ForwardedLines) => [...lines].sort(([a], [b]) => a.localeCompare(b));

  for (const path of requestPaths) {
    for (const [from, clientLines] of [['a client', []], ['a trusted proxy', ['X-Forwarded-Proto: http', 'X-Forwarded-For: 192.0.2.1']]] as const) {
      const what = `${path} path, from ${from}`;
      const request = (host: string, close: boolean) => [`GET / HTTP/1.1`, `Host: ${host}`, ...(close ? ['Connection: close'] : []), ...(path === 'node' ? ['Upgrade: not-a-protocol'] : []), ...clientLines].join('\r\n') + '\r\n\r\n';
      // One connection, plain first: lb keeps a connection's X-Forwarded-* lines for its next request.
      const { text } = await rawRequest(lb.port('web'), request('plain.test', false) + request('edited.test', true), 5_000);
      const first = parseResponse(text);
      const firstLength = Number(first.headers['content-length']);
      const plainLines = JSON.parse(first.body.slice(0, firstLength)) as ForwardedLines;
      assert.equal(plainLines.find(([name]) => name === 'x-forwarded-proto')?.[1], 'http', `${what}: without the middleware, lb's own line`);
      assert.ok(plainLines.some(([name]) => name === 'x-forwarded-for'), what);
      const edited = parseResponse(first.body.slice(firstLength));
      assert.deepEqual(sorted(JSON.parse(edited.body) as ForwardedLines), sorted(expected), what);
    }
  }

  const session = h2Session(t, lb.url('h2'));
  const h2 = await h2Request(session, { ':path': '/', ':authority': 'edited.test' });
  assert.deepEqual(sorted(JSON.parse(h2.body.toString()) as ForwardedLines), sorted(expected), 'HTTP/2');
});
