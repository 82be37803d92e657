// forwardAuth asks an auth server with a GET carrying the client's headers and X-Forwarded-*:
// a 2xx lets the request through with authResponseHeaders copied into it; any other answer (a
// 401 with its challenge and page, a redirect to a login) goes back to the client as it is.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

test('forwardAuth passes what the auth server allows, with its headers, and returns its refusals as they are', { timeout: 60_000 }, async (t) => {
  const asked: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
  const auth = await startBackend(t, (req, res) => {
    asked.push({ method: req.method!, url: req.url!, headers: req.headers });
    const token = req.headers.authorization;
    if (token === 'Bearer good') {
      res.writeHead(200, { 'x-user': 'alice', 'x-auth-internal': 'not for the app' });
      return res.end('ok');
    }
    if (token === undefined) {
      res.writeHead(302, { location: 'https://login.example.com/?next=app' });
      return res.end();
    }
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="app"', 'content-type': 'text/html', 'x-reason': 'bad token' });
    res.end('<h1>denied by the auth server</h1>');
  });
  const seen: IncomingHttpHeaders[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.headers);
    res.end('the app');
  });
  const lb = await startLb(
    t,
    lbYaml(`
middlewares:
  sso: { forwardAuth: { address: "${auth.url}/verify?app=1", authResponseHeaders: [X-User] } }
routers: { app: { entrypoint: web, middlewares: [sso], service: svc } }
services: { svc: { servers: [ { url: "${backend.url}" } ] } }
`),
  );
  const port = lb.port('web');

  const allowed = await exchange(port, { method: 'POST', path: '/orders?page=2', headers: { host: 'app.test', authorization: 'Bearer good', 'x-user': 'mallory', 'x-forwarded-for': '203.0.113.9', cookie: 'session=1' } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.body.toString(), 'the app');
  const check = asked.at(-1)!;
  assert.equal(check.method, 'GET');
  assert.equal(check.url, '/verify?app=1');
  assert.equal(check.headers.authorization, 'Bearer good');
  assert.equal(check.headers.cookie, 'session=1', "the client's headers go to the auth server");
  assert.equal(check.headers['x-forwarded-method'], 'POST');
  assert.equal(check.headers['x-forwarded-proto'], 'http');
  assert.equal(check.headers['x-forwarded-host'], 'app.test');
  assert.equal(check.headers['x-forwarded-uri'], '/orders?page=2');
  assert.equal(check.headers['x-forwarded-for'], '127.0.0.1', 'trustForwardHeader is off: the client cannot say where it is from');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!['x-user'], 'alice', "the auth server's X-User replaces the client's");
  assert.equal(seen[0]!['x-auth-internal'], undefined, 'only authResponseHeaders are copied');

  const denied = await exchange(port, { headers: { authorization: 'Bearer bad' } });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers['www-authenticate'], 'Bearer realm="app"');
  assert.equal(denied.headers['content-type'], 'text/html');
  assert.equal(denied.headers['x-reason'], 'bad token');
  assert.equal(denied.body.toString(), '<h1>denied by the auth server</h1>');

  const redirected = await exchange(port);
  assert.equal(redirected.status, 302);
  assert.equal(redirected.headers.location, 'https://login.example.com/?next=app');
  assert.equal(seen.length, 1, 'refused requests never reach the app');
});
