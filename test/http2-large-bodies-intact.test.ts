// An HTTP/2 stream holds each large chunk it is given until nghttp2 has sent it; lb gives the
// chunk's read buffer back to the upstream connection only when that write is done. Clients that
// read slowly keep lb's writes queued behind their flow-control windows while the servers send on:
// every body must still arrive exactly as the server sent it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { seededText } from './helpers/bodies.js';
import { lbYaml } from './helpers/config.js';
import { h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

const SIZE = 2 * 1024 * 1024;

test('large HTTP/2 responses arrive intact while slow clients hold lb\'s writes queued', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    const data = seededText(Number(req.url!.slice(1)), SIZE);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
    // 8 KiB at a time: above what lb copies, below what fills the stream's buffer, so that lb
    // reads on while its last chunk still waits to be sent.
    let at = 0;
    const next = () => {
      if (at >= SIZE) return void res.end();
      res.write(data.subarray(at, (at += 8 * 1024)));
      setImmediate(next);
    };
    next();
  });
  const lb = await startLb(t, lbYaml(`
routers: { app: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'http2: { cleartext: true }' }));
  const session = h2Session(t, lb.url('web'));
  const fetchSlowly = (seed: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const stream = session.request({ ':path': `/${seed}` });
      const chunks: Buffer[] = [];
      let received = 0;
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        // Every 256 KiB, a pause: the window shuts, and lb's writes wait in the stream's queue.
        if (received % (256 * 1024) < chunk.length) {
          stream.pause();
          void delay(20).then(() => stream.resume());
        }
      });
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  const seeds = [1, 2, 3, 4, 5, 6];
  const bodies = await Promise.all(seeds.map(fetchSlowly));
  seeds.forEach((seed, i) => {
    assert.equal(bodies[i]!.length, SIZE, `response ${seed}: its length`);
    assert.ok(bodies[i]!.equals(seededText(seed, SIZE)), `response ${seed}: the bytes differ from what the server sent`);
  });
});
