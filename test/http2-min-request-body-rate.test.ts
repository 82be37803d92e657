// minRequestBodyRate on HTTP/2 clients' uploads: a stream whose DATA trickles (each pause shorter
// than timeouts.requestBody) but slower on average than the minimum, once the grace period is
// over, is answered 408 LB_CLIENT_BODY_TIMEOUT, whether lb reads the body first (for retries) or
// streams it to an HTTP/1.1 server or to an h2c:// one; an upload at a good rate is not cut.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { within } from './helpers/wait.js';

/** An h2c server that answers with the length of what it read. */
async function countingH2Server(t: TestContext): Promise<number> {
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('error', () => undefined);
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(`got ${bytes}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

/** POSTs `length` bytes in `bytesPerTick` every `tickMs` on one stream, until an answer comes. */
async function upload(t: TestContext, origin: string, path: string, length: number, bytesPerTick: number, tickMs: number) {
  const session = h2Session(t, origin);
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-length': String(length) });
  const started = performance.now();
  let sent = 0;
  let headers: IncomingHttpHeaders | undefined;
  let body = '';
  const timer = setInterval(() => {
    if (headers || sent >= length || stream.destroyed) return clearInterval(timer);
    const n = Math.min(bytesPerTick, length - sent);
    sent += n;
    stream.write('x'.repeat(n));
    if (sent === length) stream.end();
  }, tickMs);
  stream.on('error', () => undefined);
  stream.on('response', (h) => (headers = h));
  stream.setEncoding('latin1').on('data', (chunk: string) => (body += chunk));
  try {
    // The whole answer: lb leaves the rest of a body it refused unread, as a client stops sending it.
    await within(new Promise<void>((resolve) => (stream.once('end', resolve), stream.once('close', resolve))), `the answer to the upload to ${path}`, 20_000);
    return { status: Number(headers?.[':status']), error: headers?.['lb-error'], body, ms: performance.now() - started };
  } finally {
    clearInterval(timer);
    session.destroy();
  }
}

test('an HTTP/2 upload slower than minRequestBodyRate gets 408 after the grace period, read first or streamed to HTTP/1.1 and HTTP/2 servers', { timeout: 90_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(`got ${bytes}`));
  });
  const h2Port = await countingH2Server(t);
  const lb = await startLb(t, lbYaml(`
routers:
  buffered: { entrypoint: web, match: { pathPrefix: /buffered }, service: buffered }
  streamed: { entrypoint: web, match: { pathPrefix: /streamed }, service: streamed }
  h2: { entrypoint: web, match: { pathPrefix: /h2 }, service: h2 }
services:
  buffered: { timeouts: { responseHeaders: 20s }, servers: [ { url: "${backend.url}" } ] }
  streamed: { timeouts: { responseHeaders: 20s }, retries: 0, servers: [ { url: "${backend.url}" } ] }
  h2: { timeouts: { responseHeaders: 20s }, retries: 0, servers: [ { url: "h2c://127.0.0.1:${h2Port}" } ] }
`, { web: 'http2: { cleartext: true }, timeouts: { requestBody: 10s }, minRequestBodyRate: { bytesPerSecond: 1000, grace: 1s }' }));
  for (const path of ['/buffered', '/streamed', '/h2']) {
    // 10 bytes every 100 ms: 100 B/s, each pause far under timeouts.requestBody (10 s).
    const slow = await upload(t, lb.url('web'), path, 5_000, 10, 100);
    assert.equal(slow.status, 408, `${path}: ${JSON.stringify(slow)}`);
    assert.equal(slow.error, 'LB_CLIENT_BODY_TIMEOUT');
    assert.ok(slow.ms >= 900 && slow.ms < 3_000, `${path}: answered after ${slow.ms.toFixed(0)} ms; the grace is 1 s, the pause limit 10 s`);
    // 200 bytes every 50 ms: 4,000 B/s for 1.5 s, past the grace period.
    const good = await upload(t, lb.url('web'), path, 6_000, 200, 50);
    assert.equal(good.status, 200, `${path}: ${JSON.stringify(good)}`);
    assert.equal(good.body, 'got 6000');
    assert.ok(good.ms > 1_000, `${path}: the good upload took ${good.ms.toFixed(0)} ms, longer than the grace period`);
  }
});
