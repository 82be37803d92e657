import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { recordingBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// A chunked body is measured as it streams to the main service (not read first) and copied once it ends.
test('a mirror gets a copy of requests with bodies up to maxBodySize, chunked ones too; longer bodies reach the main service whole and are not mirrored', { timeout: 60_000 }, async (t) => {
  const main = await recordingBackend(t);
  const mirror = await recordingBackend(t);
  const lb = await startLb(t, lbYaml(`
middlewares: { whole: { buffering: { maxRequestBodyBytes: 100000 } } }
routers:
  app: { entrypoint: web, service: app }
  buffered: { entrypoint: web, service: app, match: { host: buffered.example.com }, middlewares: [whole] }
services:
  app: { mirroring: { service: main, mirrors: [ { name: shadow } ], maxBodySize: 1024 } }
  main: { retries: 0, servers: [ { url: "${main.url}" } ] }
  shadow: { servers: [ { url: "${mirror.url}" } ] }
`));
  const send = async (path: string, body: string | Readable | null, host = 'app.example.com') => {
    const res = await request(`${lb.url('web')}${path}`, { method: body === null ? 'GET' : 'POST', headers: { host }, body });
    return `${res.statusCode} ${await res.body.text()}`;
  };
  const small = 'a'.repeat(1000);
  const large = 'b'.repeat(200_000);
  // retries: 0 on the main service, so only mirroring makes lb read the small body first.
  assert.equal(await send('/small', small), '200 1000');
  assert.equal(await send('/large', large), '200 200000');
  assert.equal(await send('/chunked', Readable.from([Buffer.from('c'.repeat(600)), Buffer.from('d'.repeat(424))])), '200 1024');
  assert.equal(await send('/chunked-large', Readable.from([Buffer.from('e'.repeat(1000)), Buffer.from('f'.repeat(25))])), '200 1025');
  assert.equal(await send('/get', null), '200 0');
  // A chunked body that a middleware read whole is measured by its payload too.
  assert.equal(await send('/buffered', Readable.from([Buffer.from('g'.repeat(500))]), 'buffered.example.com'), '200 500');
  assert.equal(await send('/buffered-large', Readable.from([Buffer.from('h'.repeat(1025))]), 'buffered.example.com'), '200 1025');
  // An absolute-form target: the fast path leaves it to Node's parser, whose requests are copied the same way.
  const viaNode = await rawRequest(lb.port('web'), 'POST http://app.example.com/node HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnode-body');
  assert.match(viaNode.text, /^HTTP\/1\.1 200 [^]*\r\n\r\n9$/);
  assert.deepEqual(main.seen.map((r) => `${r.method} ${r.url} ${r.body.length}`), ['POST /small 1000', 'POST /large 200000', 'POST /chunked 1024', 'POST /chunked-large 1025', 'GET /get 0', 'POST /buffered 500', 'POST /buffered-large 1025', 'POST http://app.example.com/node 9']);

  await eventually(() => mirror.seen.length === 5, 'the copies of /small, /chunked, /get, /buffered and /node arrive');
  assert.deepEqual(mirror.seen.map((r) => `${r.method} ${r.url} ${r.host} ${r.body}`).sort(), [
    `POST /small app.example.com ${small}`,
    `POST /chunked app.example.com ${'c'.repeat(600)}${'d'.repeat(424)}`,
    'GET /get app.example.com ',
    `POST /buffered buffered.example.com ${'g'.repeat(500)}`,
    'POST http://app.example.com/node app.example.com node-body',
  ].sort());
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_mirrored_requests_total\{service="app",mirror="shadow",result="body_too_large"\} 3$/m);
  assert.match(metrics, /^lb_mirrored_requests_total\{service="app",mirror="shadow",result="answered"\} 5$/m);
});
