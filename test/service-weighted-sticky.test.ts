import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { namedBackend } from './helpers/servers.js';

async function canaryLb(t: Parameters<typeof startLb>[0]) {
  const v1a = await namedBackend(t, 'v1a');
  const v1b = await namedBackend(t, 'v1b');
  const v2 = await namedBackend(t, 'v2');
  return startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services:
  app: { weighted: { services: [ { name: app-v1, weight: 1 }, { name: app-v2, weight: 1 } ], sticky: { cookie: lb_canary, secure: true } } }
  app-v1: { sticky: { cookie: lb_server }, servers: [ { url: "${v1a.url}" }, { url: "${v1b.url}" } ] }
  app-v2: { servers: [ { url: "${v2.url}" } ] }
`));
}

test('a sticky weighted service pins a client to the service it chose with its cookie, beside the child\'s own sticky cookie', { timeout: 60_000 }, async (t) => {
  const lb = await canaryLb(t);
  const get = async (cookie?: string) => {
    const res = await request(`${lb.url('web')}/`, { headers: cookie ? { cookie } : {} });
    const setCookie = res.headers['set-cookie'];
    return { body: await res.body.text(), cookies: setCookie === undefined ? [] : [setCookie].flat() };
  };
  // Without a cookie, new clients alternate between the two services (weights 1:1).
  const first = await get();
  const second = await get();
  assert.deepEqual([first.body[1], second.body[1]].sort(), ['1', '2'], `one client per service: ${first.body}, ${second.body}`);
  const toV1 = first.body.startsWith('v1') ? first : second;
  const canary = toV1.cookies.find((c) => c.startsWith('lb_canary='));
  assert.match(canary ?? '', /^lb_canary=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
  const server = toV1.cookies.find((c) => c.startsWith('lb_server='));
  assert.ok(server, `app-v1's own sticky cookie comes too: ${toV1.cookies.join(' | ')}`);

  const pinned = `${canary!.split(';')[0]}; ${server!.split(';')[0]}`;
  for (let i = 0; i < 20; i++) {
    const again = await get(pinned);
    assert.equal(again.body, toV1.body, 'the client stays on its service and its server');
    assert.deepEqual(again.cookies, [], 'no new cookie while both pins hold');
  }
});

test('on Node\'s path too (an absolute-form target, which the fast path leaves to llhttp), both cookies come in their own Set-Cookie lines', { timeout: 60_000 }, async (t) => {
  const lb = await canaryLb(t);
  const { text } = await rawRequest(lb.port('web'), 'GET http://app.example.com/ HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n');
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /\r\nSet-Cookie: lb_canary=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax; Secure\r\n/i);
  assert.match(text, /\r\nSet-Cookie: lb_server=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax\r\n/i);
  assert.match(text, /\r\n\r\nv1[ab]$/, 'the first new client goes to app-v1');
});
