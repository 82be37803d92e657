import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

// A service's `idle` timeout is the longest pause in a response body, and `responseHeaders` the
// wait for the head, counted from the last byte of the request: a body or an upload that keeps
// moving is never cut, however long it takes in all.

/** A backend that sends `pieces` body chunks, `gapMs` apart (then stalls if `stall`). */
function trickle(pieces: number, gapMs: number, stall = false) {
  return (_req: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let sent = 0;
    const timer = setInterval(() => {
      if (sent === pieces) {
        clearInterval(timer);
        if (!stall) res.end();
        return;
      }
      res.write(`piece ${sent++}\n`);
    }, gapMs);
    res.on('close', () => clearInterval(timer));
  };
}

test('a response body that stalls longer than the idle timeout is cut', async (t) => {
  const backend = await startBackend(t, trickle(2, 20, true));
  const lb = await startLb(t, oneServiceConfig(backend.url, 'timeouts: { idle: 300ms },'));
  const started = Date.now();
  const res = await request(lb.url('web'));
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 300 && elapsed < 5_000, `cut after ${elapsed} ms`);
});

test('a response body that keeps moving outlasts the idle timeout', async (t) => {
  const backend = await startBackend(t, trickle(12, 100));
  const lb = await startLb(t, oneServiceConfig(backend.url, 'timeouts: { idle: 300ms },'));
  const res = await request(lb.url('web'));
  assert.equal(res.statusCode, 200);
  const body = await res.body.text();
  assert.equal(body.split('\n').length - 1, 12);
});

test('a slow upload that keeps moving is not a response-header timeout', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(`got ${bytes}`));
  });
  const lb = await startLb(t, oneServiceConfig(backend.url, 'timeouts: { responseHeaders: 300ms }, retries: 0,'));
  async function* slowBody() {
    for (let i = 0; i < 10; i++) {
      yield Buffer.alloc(1000, 97);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const res = await request(lb.url('web'), { method: 'PUT', body: Readable.from(slowBody()), headers: { 'content-length': '10000' } });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'got 10000');
});
