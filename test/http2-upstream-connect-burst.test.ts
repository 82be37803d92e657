// A burst of requests with bodies to an h2c:// server that lb has no session with yet: they all
// wait on the one new session, each body goes once it connects, and Node warns of no listener
// leak (lb once added a 'connect' listener per waiting stream; Node warns past ten).
import assert from 'node:assert/strict';
import { createServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';

test('streams that wait for a new upstream session send their bodies once it connects, without a listener per stream', { timeout: 30_000 }, async (t) => {
  let sessions = 0;
  const server = createServer();
  server.on('session', () => sessions++);
  server.on('stream', (stream: ServerHttp2Stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));

  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "h2c://127.0.0.1:${(server.address() as AddressInfo).port}" } ] } }
`, { web: 'http2: { cleartext: true }' }));
  const client = h2Session(t, `http://127.0.0.1:${lb.port('web')}`);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => h2Request(client, { ':method': 'POST', ':path': `/up${i}`, ':authority': 'app.test' }, Buffer.from(`body ${i}`))));
  assert.deepEqual(answers.map((a) => `${a.status} ${a.body.toString()}`), Array.from({ length: 40 }, (_, i) => `200 body ${i}`));
  assert.equal(sessions, 1, 'one session for the burst');
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings.map((w) => w.name), [], warnings.map((w) => w.message).join('\n'));
});
