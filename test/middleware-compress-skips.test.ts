// compress leaves alone what it should not touch: bodies under minResponseBodyBytes, types that
// are not text, responses already encoded, ranges (a Range request, a 206), HEAD, and clients that
// accept no encoding lb offers; an eligible response still says `Vary: Accept-Encoding`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchange } from './helpers/exchange.js';
import { startCompressingLb } from './helpers/middleware.js';
import { startBackend } from './helpers/servers.js';

const text = Buffer.from('lorem ipsum dolor sit amet '.repeat(200));

test('compress skips small, binary, encoded, ranged and HEAD responses, and clients without a shared encoding', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    switch (req.url) {
      case '/small':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100 });
        return res.end(text.subarray(0, 100));
      case '/png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': text.length });
        return res.end(text);
      case '/encoded':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': text.length });
        return res.end(text);
      case '/range':
        res.writeHead(206, { 'content-type': 'text/plain', 'content-range': `bytes 0-1999/${text.length}`, 'content-length': 2000 });
        return res.end(text.subarray(0, 2000));
      default:
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': text.length });
        return res.end(req.method === 'HEAD' ? undefined : text);
    }
  });
  const lb = await startCompressingLb(t, backend.url, '{ encodings: [gzip], minResponseBodyBytes: 1024 }');
  const port = lb.port('web');
  const gzip = { 'accept-encoding': 'gzip' };
  for (const path of ['/small', '/png']) {
    const answer = await exchange(port, { path, headers: gzip });
    assert.equal(answer.headers['content-encoding'], undefined, path);
    assert.equal(answer.headers.vary, undefined, `${path} is never compressed: it does not vary`);
  }
  const encoded = await exchange(port, { path: '/encoded', headers: gzip });
  assert.equal(encoded.headers['content-encoding'], 'gzip');
  assert.ok(encoded.body.equals(text), 'an encoded response passes as it is, not encoded twice');

  const ranged = await exchange(port, { path: '/range', headers: { ...gzip, range: 'bytes=0-1999' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers['content-encoding'], undefined);
  assert.equal(ranged.body.length, 2000);
  const rangeRequest = await exchange(port, { path: '/text', headers: { ...gzip, range: 'bytes=0-10' } });
  assert.equal(rangeRequest.headers['content-encoding'], undefined, 'a Range request is not compressed (the server may ignore the range)');

  const head = await exchange(port, { method: 'HEAD', path: '/text', headers: gzip });
  assert.equal(head.headers['content-encoding'], undefined);
  assert.equal(head.headers['content-length'], String(text.length));

  for (const accept of [undefined, 'br', 'identity', 'gzip;q=0']) {
    const answer = await exchange(port, { path: '/text', headers: accept === undefined ? {} : { 'accept-encoding': accept } });
    assert.equal(answer.headers['content-encoding'], undefined, `Accept-Encoding: ${accept}`);
    assert.equal(answer.headers['content-length'], String(text.length));
    assert.equal(answer.headers.vary, 'Accept-Encoding', 'the response would be compressed for another client: caches must know');
    assert.ok(answer.body.equals(text));
  }
});
