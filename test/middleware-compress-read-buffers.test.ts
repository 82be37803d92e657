// compress lends each chunk of a server's response to zlib, which reads it later, on its thread;
// the upstream connection reads into that chunk's buffer again only once zlib has consumed it.
// End to end over sockets: the server sends in small pieces, so that zlib accepts reads at once
// and lb reads on while zlib still works, and responses must decode to exactly what the server
// sent, in gzip and brotli, with and without chunked framing. A give-back before zlib is through
// shows here on Content-Length bodies; middleware-compress-lends-chunks.test.ts checks its timing
// on both paths deterministically.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { seededText } from './helpers/bodies.js';
import { startCompressingLb } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';

const SIZE = 1024 * 1024;
const PIECE = 8 * 1024;
const decoders = { gzip: gunzipSync, br: brotliDecompressSync };

function fetchCompressed(port: number, path: string, encoding: keyof typeof decoders): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, headers: { 'accept-encoding': encoding }, agent: false }, (res) => {
      if (res.headers['content-encoding'] !== encoding) return reject(new Error(`not ${encoding}: ${res.statusCode} ${JSON.stringify(res.headers)}`));
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(decoders[encoding](Buffer.concat(chunks))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('compressed responses decode to what the server sent while lb reads on during compression', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    const [, framing, seed] = req.url!.split('/');
    const data = seededText(Number(seed), SIZE);
    res.writeHead(200, { 'content-type': 'text/plain', ...(framing === 'length' ? { 'content-length': String(SIZE) } : {}) });
    let at = 0;
    const next = () => {
      if (at >= SIZE) return void res.end();
      res.write(data.subarray(at, (at += PIECE)));
      setImmediate(next);
    };
    next();
  });
  const lb = await startCompressingLb(t, backend.url);
  const port = lb.port('web');
  for (const encoding of ['br', 'gzip'] as const) {
    const responses = Array.from({ length: 8 }, (_, i) => ({ framing: i % 2 ? 'length' : 'chunked', seed: i + 1 }));
    const bodies = await Promise.all(responses.map(({ framing, seed }) => fetchCompressed(port, `/${framing}/${seed}`, encoding)));
    responses.forEach(({ framing, seed }, i) => assert.ok(bodies[i]!.equals(seededText(seed, SIZE)), `${encoding}, ${framing} response ${seed}: the decoded bytes differ from what the server sent`));
  }
});
