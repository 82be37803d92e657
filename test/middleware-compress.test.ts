// compress: text responses are compressed with the encoding the client prefers (q-values; lb's
// order, br before gzip, on a tie), framed chunked (or closed, for HTTP/1.0), with Vary and a weak
// ETag; zlib decodes them back to the server's bytes. Both client paths: lb's fast path, and
// Node's parser (an absolute-form target is left to it).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { exchange, type Answer } from './helpers/exchange.js';
import { rawRequest } from './helpers/raw-http.js';
import { startCompressingLb } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';

/** 100 KiB of JSON, as an API would send it. */
const json = Buffer.from(JSON.stringify(Array.from({ length: 1200 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b', String(i % 7)], price: (i * 37) % 1000 }))).slice(0, 100 * 1024));

function decoded(answer: Answer): Buffer {
  const encoding = answer.headers['content-encoding'];
  if (encoding === 'br') return brotliDecompressSync(answer.body);
  if (encoding === 'gzip') return gunzipSync(answer.body);
  throw new Error(`not compressed: content-encoding ${encoding}`);
}

/** A GET whose target is absolute-form, which lb's fast path leaves to Node's parser. */
function viaNodeParser(port: number, acceptEncoding: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: `http://127.0.0.1:${port}/json`, headers: { 'accept-encoding': acceptEncoding, connection: 'close' }, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('compress sends text compressed with the negotiated encoding, which zlib decodes to the same bytes', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/chunked') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      // No Content-Length: chunked, in several writes.
      for (let i = 0; i < 4; i++) res.write(json.subarray(i * 25_600, (i + 1) * 25_600));
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length, etag: '"v1"', vary: 'Origin' });
    res.end(json);
  });
  const lb = await startCompressingLb(t, backend.url);
  const port = lb.port('web');
  const cases: Array<[string, string]> = [
    ['br', 'br'],
    ['gzip', 'gzip'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['br;q=0, gzip;q=0.3', 'gzip'],
    ['gzip, deflate, br', 'br'],
    ['*', 'br'],
  ];
  for (const [accept, expected] of cases) {
    const answer = await exchange(port, { path: '/json', headers: { 'accept-encoding': accept } });
    assert.equal(answer.headers['content-encoding'], expected, `Accept-Encoding: ${accept}`);
    assert.equal(answer.headers['content-length'], undefined);
    assert.equal(answer.headers['transfer-encoding'], 'chunked');
    assert.equal(answer.headers.vary, 'Origin, Accept-Encoding');
    assert.equal(answer.headers.etag, 'W/"v1"', 'a compressed body is not byte-identical: its ETag is weak');
    assert.ok(decoded(answer).equals(json), `the ${expected} body decodes to the server's bytes`);
    assert.ok(answer.body.length < json.length / 3, `${expected}: ${answer.body.length} bytes for ${json.length}`);
  }

  const chunked = await exchange(port, { path: '/chunked', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(chunked.headers['content-encoding'], 'gzip');
  assert.ok(decoded(chunked).equals(json), 'a chunked response is compressed as a whole');

  const node = await viaNodeParser(port, 'br');
  assert.equal(node.headers['content-encoding'], 'br');
  assert.ok(decoded(node).equals(json), "Node's path compresses too");

  // HTTP/1.0 cannot read chunks: the compressed body ends with the connection.
  const old = await rawRequest(port, `GET /json HTTP/1.0\r\nHost: app\r\nAccept-Encoding: gzip\r\n\r\n`, 10_000);
  assert.ok(old.closed);
  const raw = Buffer.from(old.text, 'latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, headEnd).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /\r\nContent-Encoding: gzip\r\n/i);
  assert.doesNotMatch(head, /content-length|transfer-encoding/i);
  assert.ok(gunzipSync(raw.subarray(headEnd + 4)).equals(json));
});
