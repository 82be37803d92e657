import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig } from './helpers/lb.js';
import { spawnLb } from './helpers/lb-process.js';
import { startBackend } from './helpers/servers.js';

const size = 100 * 1024 * 1024;
const chunk = Buffer.alloc(1024 * 1024);
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7919) & 0xff;

function* body(): Generator<Buffer> {
  for (let sent = 0; sent < size; sent += chunk.length) {
    chunk[0] = (sent / chunk.length) & 0xff; // vary the chunks so reordering would show
    yield Buffer.from(chunk);
  }
}

function expectedDigest(): string {
  const hash = createHash('sha256');
  for (const part of body()) hash.update(part);
  return hash.digest('hex');
}

// lb's RSS may grow while V8 sizes its heap and lets relayed Buffers wait for a GC (about 35 MB
// on an idle machine, more when the test suite keeps the CPU busy); buffering a body would need
// over 100 MB per direction. The real proof is the plateau: a second 200 MB adds next to nothing.
const growthLimit = 90 * 1024 * 1024;
const plateauLimit = 16 * 1024 * 1024;

test('100 MB streams up and down intact, without buffering in lb', { timeout: 120_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.method === 'POST') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (part: Buffer) => {
        hash.update(part);
        bytes += part.length;
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return;
    }
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
    const parts = body();
    const pump = () => {
      for (let next = parts.next(); !next.done; next = parts.next()) {
        if (!res.write(next.value)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const lb = await spawnLb(t, oneServiceConfig(backend.url));
  const url = `http://127.0.0.1:${lb.port('web')}`;
  await (await request(url, { method: 'POST', body: 'warm-up' })).body.text();
  const baseline = lb.memory().rss;
  const digest = expectedDigest();

  const roundTrip = async () => {
    const upload = await request(url, { method: 'POST', body: Readable.from(body()) });
    const received = JSON.parse(await upload.body.text()) as { bytes: number; sha256: string };
    assert.equal(received.bytes, size);
    assert.equal(received.sha256, digest);

    const download = await request(url);
    assert.equal(download.statusCode, 200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const part of download.body) {
      hash.update(part as Buffer);
      bytes += (part as Buffer).length;
    }
    assert.equal(bytes, size);
    assert.equal(hash.digest('hex'), digest);
  };
  await roundTrip();
  const afterFirst = lb.memory().peak;
  await roundTrip();
  const afterSecond = lb.memory().peak;
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  t.diagnostic(`lb peak RSS: +${mb(afterFirst - baseline)} MB over the first 200 MB relayed, +${mb(afterSecond - afterFirst)} MB over the next 200 MB`);
  assert.ok(afterFirst - baseline < growthLimit, `lb grew by ${mb(afterFirst - baseline)} MB`);
  // Buffering would grow with the bytes relayed; streaming reaches a plateau after the first round.
  assert.ok(afterSecond - afterFirst < plateauLimit, `lb kept growing: +${mb(afterSecond - afterFirst)} MB in the second round`);
});
