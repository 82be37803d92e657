import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';

test('requests are routed by host, path prefix and header', async (t) => {
  const [app, api, canary, other] = await Promise.all(['app', 'api', 'canary', 'other'].map((n) => namedBackend(t, n)));
  const lb = await startLb(t, lbYaml(`
routers:
  app:    { entrypoint: web, match: { host: "app.example.com" }, service: app }
  api:    { entrypoint: web, match: { host: "app.example.com", pathPrefix: "/api" }, service: api }
  canary: { entrypoint: web, match: { host: "app.example.com", headers: { X-Canary: "1" } }, service: canary }
  wild:   { entrypoint: web, match: { host: "*.example.org" }, service: other }
services:
  app:    { servers: [ { url: "${app!.url}" } ] }
  api:    { servers: [ { url: "${api!.url}" } ] }
  canary: { servers: [ { url: "${canary!.url}" } ] }
  other:  { servers: [ { url: "${other!.url}" } ] }
`));
  const get = async (host: string, path = '/', headers: Record<string, string> = {}) => {
    const res = await request(`${lb.url('web')}${path}`, { headers: { host, ...headers } });
    return `${res.statusCode} ${await res.body.text()}`;
  };
  assert.equal(await get('app.example.com'), '200 app');
  assert.equal(await get('APP.example.com:8080', '/x'), '200 app');
  assert.equal(await get('app.example.com', '/api/users?x=1'), '200 api');
  assert.equal(await get('app.example.com', '/', { 'x-canary': '1' }), '200 canary');
  assert.equal(await get('www.example.org'), '200 other');
  assert.match(await get('unknown.example.net'), /^404 404 Not Found: no router matches this request/);
});

function twoServerPool(servers: string, settings = ''): string {
  return lbYaml(`
routers: { all: { entrypoint: web, service: pool } }
services: { pool: { ${settings} servers: [ ${servers} ] } }
`);
}

test('round-robin over a pool follows the weights through the proxy', async (t) => {
  const [a, b] = await Promise.all([namedBackend(t, 'a'), namedBackend(t, 'b')]);
  const lb = await startLb(t, twoServerPool(`{ url: "${a.url}", weight: 2 }, { url: "${b.url}" }`));
  const seen: string[] = [];
  for (let i = 0; i < 30; i++) seen.push(await (await request(lb.url('web'))).body.text());
  assert.equal(seen.filter((s) => s === 'a').length, 20);
  assert.equal(seen.filter((s) => s === 'b').length, 10);
});

test('the sticky balancer pins a client through the proxy', async (t) => {
  const [a, b] = await Promise.all([namedBackend(t, 'a'), namedBackend(t, 'b')]);
  const lb = await startLb(t, twoServerPool(`{ url: "${a.url}" }, { url: "${b.url}" }`, 'balancer: sticky,'));
  const first = await request(lb.url('web'));
  const name = await first.body.text();
  const setCookie = String(first.headers['set-cookie']);
  assert.match(setCookie, /^lb_sticky=[0-9a-f]+; Path=\/; HttpOnly; SameSite=Lax$/);
  const cookie = setCookie.split(';')[0]!;
  for (let i = 0; i < 6; i++) {
    const res = await request(lb.url('web'), { headers: { cookie } });
    assert.equal(await res.body.text(), name);
    assert.equal(res.headers['set-cookie'], undefined);
  }
});
