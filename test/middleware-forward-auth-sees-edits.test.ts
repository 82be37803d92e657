// forwardAuth shows the auth server the request as the middlewares before it left it, as Traefik
// does: the target after a stripPrefix, headers a headers middleware set or removed, and no
// Authorization once a basicAuth before it has taken it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

test('forwardAuth sees the edits of the middlewares before it', { timeout: 60_000 }, async (t) => {
  const asked: IncomingHttpHeaders[] = [];
  const auth = await startBackend(t, (req, res) => {
    asked.push(req.headers);
    res.end('ok');
  });
  const backend = await startBackend(t, (req, res) => res.end(`the app at ${req.url}`));
  const sha1 = `{SHA}${createHash('sha1').update('secret').digest('base64')}`;
  const lb = await startLb(
    t,
    lbYaml(`
middlewares:
  strip: { stripPrefix: { prefixes: [/api] } }
  tag: { headers: { customRequestHeaders: { X-Env: prod, X-Debug: "" } } }
  login: { basicAuth: { users: ["ops:${sha1}"] } }
  sso: { forwardAuth: { address: "${auth.url}/verify" } }
routers:
  edited: { entrypoint: web, match: { host: edited.test }, middlewares: [strip, tag, sso], service: app }
  logged: { entrypoint: web, match: { host: logged.test }, middlewares: [login, sso], service: app }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`),
  );
  const port = lb.port('web');

  const edited = await exchange(port, { path: '/api/orders?page=2', headers: { host: 'edited.test', 'x-debug': 'on', 'x-env': 'dev', cookie: 'session=1' } });
  assert.equal(edited.status, 200);
  assert.equal(edited.body.toString(), 'the app at /orders?page=2');
  const seen = asked.at(-1)!;
  assert.equal(seen['x-forwarded-uri'], '/orders?page=2', 'the target after stripPrefix');
  assert.equal(seen['x-forwarded-prefix'], '/api', "stripPrefix's own header");
  assert.equal(seen['x-env'], 'prod', 'a header the headers middleware set replaces the client\'s');
  assert.equal(seen['x-debug'], undefined, 'a header the headers middleware removed is not sent');
  assert.equal(seen.cookie, 'session=1', 'headers no middleware touched go as the client sent them');

  const credentials = `Basic ${Buffer.from('ops:secret').toString('base64')}`;
  const logged = await exchange(port, { path: '/admin', headers: { host: 'logged.test', authorization: credentials } });
  assert.equal(logged.status, 200);
  assert.equal(asked.at(-1)!.authorization, undefined, 'basicAuth removed Authorization before forwardAuth asked');
  assert.equal(asked.at(-1)!['x-forwarded-uri'], '/admin');
});
