import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest } from './helpers/raw-http.js';
import { recordingBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('a mirror gets a copy of requests with bodies up to maxBodySize; longer and chunked bodies reach the main service whole and are not mirrored', { timeout: 60_000 }, async (t) => {
  const main = await recordingBackend(t);
  const mirror = await recordingBackend(t);
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services:
  app: { mirroring: { service: main, mirrors: [ { name: shadow } ], maxBodySize: 1024 } }
  main: { retries: 0, servers: [ { url: "${main.url}" } ] }
  shadow: { servers: [ { url: "${mirror.url}" } ] }
`));
  const send = async (path: string, body: string | Readable | null) => {
    const res = await request(`${lb.url('web')}${path}`, { method: body === null ? 'GET' : 'POST', headers: { host: 'app.example.com' }, body });
    return `${res.statusCode} ${await res.body.text()}`;
  };
  const small = 'a'.repeat(1000);
  const large = 'b'.repeat(200_000);
  // retries: 0 on the main service, so only mirroring makes lb read the small body first.
  assert.equal(await send('/small', small), '200 1000');
  assert.equal(await send('/large', large), '200 200000');
  assert.equal(await send('/chunked', Readable.from([Buffer.from('c'.repeat(100))])), '200 100');
  assert.equal(await send('/get', null), '200 0');
  // An absolute-form target: the fast path leaves it to Node's parser, whose requests are copied the same way.
  const viaNode = await rawRequest(lb.port('web'), 'POST http://app.example.com/node HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnode-body');
  assert.match(viaNode.text, /^HTTP\/1\.1 200 [^]*\r\n\r\n9$/);
  assert.deepEqual(main.seen.map((r) => `${r.method} ${r.url} ${r.body.length}`), ['POST /small 1000', 'POST /large 200000', 'POST /chunked 100', 'GET /get 0', 'POST http://app.example.com/node 9']);

  await eventually(() => mirror.seen.length === 3, 'the copies of /small, /get and /node arrive');
  assert.deepEqual(mirror.seen.map((r) => `${r.method} ${r.url} ${r.host} ${r.body}`), [`POST /small app.example.com ${small}`, 'GET /get app.example.com ', 'POST http://app.example.com/node app.example.com node-body']);
  const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
  assert.match(metrics, /^lb_mirrored_requests_total\{service="app",mirror="shadow",result="body_too_large"\} 2$/m);
  assert.match(metrics, /^lb_mirrored_requests_total\{service="app",mirror="shadow",result="answered"\} 3$/m);
});
