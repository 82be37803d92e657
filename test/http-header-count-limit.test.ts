import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

// A request may carry at most 100 header fields; more get 431, on the fast path and on Node's
// alike, and never reach the server. Node by itself would keep the first 2,000 and drop the rest
// without a word, forwarding a request other than the one the client sent.

const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('');

test('a request with more than 100 header fields gets 431 and reaches no server; one with 100 is forwarded whole', { timeout: 30_000 }, async (t) => {
  const received: number[] = [];
  const backend = await startBackend(t, (req, res) => {
    received.push(req.rawHeaders.filter((_, i) => i % 2 === 0 && /^x-f\d+$/i.test(req.rawHeaders[i]!)).length);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const port = lb.port('web');

  // Host plus 99: 100 fields. The fast path serves it; an absolute-form target goes to Node's parser.
  for (const target of ['/', 'http://a/']) {
    const ok = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: a\r\n${fields(99)}\r\n`);
    assert.equal(statusOf(ok.text), 200, `100 fields, target ${target}: ${ok.text.slice(0, 80)}`);
    assert.equal(received.at(-1), 99, 'every field reached the server');
  }
  const served = received.length;
  for (const [what, head] of [
    ['101 fields on the fast path', `GET / HTTP/1.1\r\nHost: a\r\n${fields(100)}\r\n`],
    ['101 fields on Node\'s parser', `GET http://a/ HTTP/1.1\r\nHost: a\r\n${fields(100)}\r\n`],
    ['2,500 fields in under 16 KiB', `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 2_500 }, () => 'a:1\r\n').join('')}\r\n`],
  ] as const) {
    const refused = await rawRequest(port, head);
    assert.equal(statusOf(refused.text), 431, `${what}: ${refused.text.slice(0, 80)}`);
    assert.match(refused.text, /more than 100 header fields/, what);
    assert.ok(refused.closed, `${what}: the connection is closed`);
  }
  assert.equal(received.length, served, 'no refused request reached the server');
});
