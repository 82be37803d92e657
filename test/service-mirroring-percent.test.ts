import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { recordingBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('a mirror with percent: 10 gets every tenth request', { timeout: 60_000 }, async (t) => {
  const main = await recordingBackend(t);
  const mirror = await recordingBackend(t);
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services:
  app: { mirroring: { service: main, mirrors: [ { name: shadow, percent: 10 } ] } }
  main: { servers: [ { url: "${main.url}" } ] }
  shadow: { servers: [ { url: "${mirror.url}" } ] }
`));
  for (let i = 0; i < 100; i++) await (await request(`${lb.url('web')}/${i}`)).body.text();
  await eventually(() => mirror.seen.length === 10, 'ten copies arrive');
  assert.equal(main.seen.length, 100);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(mirror.seen.length, 10, 'no more than ten');
});
