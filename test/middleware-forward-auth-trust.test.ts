// trustForwardHeader decides whose X-Forwarded-* the auth server gets: lb's own from the
// connection (the default), or those a trusted proxy in front sent (trustedProxies), with its
// address appended, as the middlewares before forwardAuth left them.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

test('forwardAuth passes the X-Forwarded-* a client sent only with trustForwardHeader, from a trusted proxy', { timeout: 60_000 }, async (t) => {
  const asked: IncomingHttpHeaders[] = [];
  const auth = await startBackend(t, (req, res) => {
    asked.push(req.headers);
    res.end('ok');
  });
  const backend = await startBackend(t, (_req, res) => res.end('the app'));
  const lb = await startLb(
    t,
    lbYaml(
      `
middlewares:
  own: { forwardAuth: { address: "${auth.url}/verify" } }
  trusting: { forwardAuth: { address: "${auth.url}/verify", trustForwardHeader: true } }
  behind-tls: { headers: { customRequestHeaders: { X-Forwarded-Proto: https, X-Forwarded-Host: "" } } }
routers:
  edited: { entrypoint: web, match: { host: edited.test }, middlewares: [behind-tls, trusting], service: app }
  own: { entrypoint: web, match: { host: own.test }, middlewares: [own], service: app }
  trusting: { entrypoint: web, match: { host: trusting.test }, middlewares: [trusting], service: app }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`,
      { web: 'trustedProxies: ["127.0.0.1/32"]' },
    ),
  );
  const port = lb.port('web');
  const claimed = { 'x-forwarded-method': 'DELETE', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example.com', 'x-forwarded-uri': '/public/orders', 'x-forwarded-for': '203.0.113.9' };

  const forwarded = (headers: IncomingHttpHeaders) => Object.fromEntries(Object.keys(claimed).map((name) => [name, headers[name]]));

  assert.equal((await exchange(port, { path: '/orders', headers: { host: 'own.test', ...claimed } })).status, 200);
  assert.deepEqual(
    forwarded(asked.at(-1)!),
    { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'own.test', 'x-forwarded-uri': '/orders', 'x-forwarded-for': '127.0.0.1' },
    "without trustForwardHeader the client's claims are replaced by lb's own",
  );

  assert.equal((await exchange(port, { path: '/orders', headers: { host: 'trusting.test', ...claimed } })).status, 200);
  assert.deepEqual(
    forwarded(asked.at(-1)!),
    { ...claimed, 'x-forwarded-for': '203.0.113.9, 127.0.0.1' },
    'with it they pass, and the client address is appended to the chain the client sent',
  );

  // Trusted as the middlewares before left them: an edit replaces the proxy's word, a removal lets lb's own stand in.
  assert.equal((await exchange(port, { path: '/orders', headers: { host: 'edited.test', ...claimed } })).status, 200);
  assert.deepEqual(forwarded(asked.at(-1)!), { ...claimed, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'edited.test', 'x-forwarded-for': '203.0.113.9, 127.0.0.1' });

  // A peer outside trustedProxies is not a proxy whose word counts, trustForwardHeader or not.
  assert.equal((await exchange(port, { path: '/orders', localAddress: '127.0.0.2', headers: { host: 'trusting.test', ...claimed } })).status, 200);
  assert.deepEqual(forwarded(asked.at(-1)!), { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'trusting.test', 'x-forwarded-uri': '/orders', 'x-forwarded-for': '127.0.0.2' });

  // Without a proxy's headers, lb's own stand in, also when trusting.
  assert.equal((await exchange(port, { path: '/orders', headers: { host: 'trusting.test' } })).status, 200);
  assert.equal(asked.at(-1)!['x-forwarded-host'], 'trusting.test');
  assert.equal(asked.at(-1)!['x-forwarded-for'], '127.0.0.1');
});
