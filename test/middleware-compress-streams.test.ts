// compress streams: compressed bytes reach the client while the server is still sending (it
// finishes only once the client has decoded most of what it sent), so lb never holds a whole body.
import assert from 'node:assert/strict';
import { request, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { createGunzip } from 'node:zlib';
import { startCompressingLb } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';
import { eventually, within } from './helpers/wait.js';

/** Text that compresses only about 2:1 (random words), so that zlib has output early. */
function words(bytes: number): Buffer {
  const vocabulary = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
  let seed = 7;
  let out = '';
  while (out.length < bytes) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    out += `${vocabulary[seed % vocabulary.length]}${seed % 1000} `;
  }
  return Buffer.from(out.slice(0, bytes));
}

test('compress streams a response: the client decodes most of it before the server ends it', { timeout: 60_000 }, async (t) => {
  const part = words(512 * 1024);
  let open: ServerResponse | undefined;
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(part);
    open = res;
  });
  t.after(() => open?.destroy());
  const lb = await startCompressingLb(t, backend.url, '{ encodings: [gzip] }');
  let decodedBytes = 0;
  const done = new Promise<void>((resolve, reject) => {
    const req = request({ port: lb.port('web'), host: '127.0.0.1', path: '/', headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
      assert.equal(res.headers['content-encoding'], 'gzip');
      const gunzip = createGunzip();
      gunzip.on('data', (chunk: Buffer) => (decodedBytes += chunk.length));
      gunzip.on('end', resolve);
      gunzip.on('error', reject);
      res.pipe(gunzip);
    });
    req.on('error', reject);
    req.end();
  });
  await eventually(() => decodedBytes >= 256 * 1024, 'the client to decode half of the body while the server still holds the response open', 20_000);
  open!.end(part);
  await within(done, 'the rest of the body');
  assert.equal(decodedBytes, 2 * part.length);
});
