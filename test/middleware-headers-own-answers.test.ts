// A headers middleware's response edits reach the answers lb makes itself, as in Traefik: a
// later middleware's answer (basicAuth's 401, rateLimit's 429) and lb's own error once the request
// has passed the chain (502) go back through it. An answer from a middleware listed before it
// does not, because it never got that far. This holds on the fast path, Node's parser, HTTP/2
// and upgrades.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { requestPaths, send } from './helpers/middleware.js';
import { closedPort, namedBackend } from './helpers/servers.js';

test("response edits apply to lb's own answers that go back through the middleware", { timeout: 60_000 }, async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(
    t,
    lbYaml(
      `
middlewares:
  secure: { headers: { customResponseHeaders: { X-Frame-Options: DENY, X-Note: outer } } }
  inner: { headers: { customResponseHeaders: { X-Note: inner, X-Inner: "yes" } } }
  auth: { basicAuth: { users: ["ops:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="] } }
  limit: { rateLimit: { average: 1, period: 1h, burst: 1 } }
routers:
  before: { entrypoint: web, match: { pathPrefix: /before }, middlewares: [secure, auth], service: app }
  after: { entrypoint: web, match: { pathPrefix: /after }, middlewares: [auth, secure], service: app }
  limited: { entrypoint: web, match: { pathPrefix: /limited }, middlewares: [secure, limit], service: app }
  down: { entrypoint: web, match: { pathPrefix: /down }, middlewares: [secure, inner], service: dead }
services:
  app: { servers: [ { url: "${backend.url}" } ] }
  dead: { servers: [ { url: "http://127.0.0.1:${await closedPort()}" } ] }
`,
      { web: 'http2: { cleartext: true }' },
    ),
  );
  const port = lb.port('web');
  const session = h2Session(t, lb.url('web'));
  const answers = async (path: string) => [
    ...(await Promise.all(requestPaths.map(async (via) => ({ via, ...(await send(port, via, path)) })))),
    { via: 'h2', ...(await h2Request(session, { ':path': path })) },
  ];

  for (const answer of await answers('/before')) {
    assert.equal(answer.status, 401, answer.via);
    assert.equal(answer.headers['x-frame-options'], 'DENY', `${answer.via}: basicAuth's 401 goes back through secure, listed before it`);
    assert.ok(answer.headers['www-authenticate'], answer.via);
  }
  for (const answer of await answers('/after')) {
    assert.equal(answer.status, 401, answer.via);
    assert.equal(answer.headers['x-frame-options'], undefined, `${answer.via}: secure, listed after basicAuth, is never reached`);
  }

  assert.equal((await send(port, 'fast', '/limited')).status, 200, 'the one token');
  for (const answer of await answers('/limited')) {
    assert.equal(answer.status, 429, answer.via);
    assert.equal(answer.headers['x-frame-options'], 'DENY', answer.via);
    assert.ok(Number(answer.headers['retry-after']) > 3_000, `${answer.via}: the error's own header stays`);
    assert.equal(answer.headers['lb-error'], 'LB_RATE_LIMITED', answer.via);
  }

  for (const answer of await answers('/down')) {
    assert.ok(answer.status === 502 || answer.status === 503, `${answer.via}: ${answer.status}`);
    assert.equal(answer.headers['x-frame-options'], 'DENY', `${answer.via}: lb's error after the chain goes back through every middleware`);
    assert.equal(answer.headers['x-note'], 'outer', `${answer.via}: the first listed has the last word, as on a server's response`);
    assert.equal(answer.headers['x-inner'], 'yes', answer.via);
    assert.ok(answer.headers['lb-error'], answer.via);
  }

  // A WebSocket upgrade that basicAuth refuses: the same 401, edited, on the raw socket.
  const upgrade = await send(port, 'fast', '/before', {
    raw: 'GET /before HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  });
  assert.equal(upgrade.status, 401);
  assert.equal(upgrade.headers['x-frame-options'], 'DENY');
});
