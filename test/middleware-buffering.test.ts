// buffering: the server never sees a body above maxRequestBodyBytes. A Content-Length above it is
// refused with 413 before any body byte arrives; a chunked body as soon as its payload passes
// the limit; a body within it reaches the server whole.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { echoBackend, echoed, parseResponse, requestPaths, send, type RequestPath } from './helpers/middleware.js';

/** Writes `parts` in turn, 50 ms apart, then waits (the body is left unfinished) for lb's answer. */
function sendUnfinished(port: number, parts: string[]): Promise<{ text: string; partsWritten: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let written = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer after ${written} parts: ${JSON.stringify(text)}`));
    }, 5_000);
    const next = () => {
      if (written < parts.length && !text) socket.write(parts[written++]!, () => setTimeout(next, 50));
    };
    socket.on('connect', next);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ text, partsWritten: written });
      }
    });
    socket.on('error', () => undefined);
  });
}

const chunk = (n: number) => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;
const chunkedHead = (path: RequestPath) => `POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n${path === 'node' ? 'Upgrade: not-a-protocol\r\n' : ''}\r\n`;

test('buffering refuses bodies above the limit early, and forwards the others whole', { timeout: 30_000 }, async (t) => {
  let reached = 0;
  const backend = await echoBackend(t);
  backend.server.prependListener('request', () => reached++);
  const lb = await startLb(t, lbYaml(`
middlewares:
  small: { buffering: { maxRequestBodyBytes: 1000 } }
routers: { r: { entrypoint: web, service: svc, middlewares: [small] } }
services: { svc: { retries: 0, servers: [ { url: "${backend.url}" } ] } }
`));
  const port = lb.port('web');
  for (const path of requestPaths) {
    // Only the head: the answer comes without waiting for a body that would be too large.
    const early = await sendUnfinished(port, [`POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1001\r\n${path === 'node' ? 'Upgrade: not-a-protocol\r\n' : ''}\r\n`]);
    assert.equal(parseResponse(early.text).status, 413, path);
    // 600 bytes pass; the next 600 take the payload to 1200, and lb answers before the body ends.
    const chunked = await sendUnfinished(port, [chunkedHead(path), chunk(600), chunk(600), chunk(600)]);
    assert.equal(parseResponse(chunked.text).status, 413, path);
    assert.ok(chunked.partsWritten < 4, `${path}: answered after ${chunked.partsWritten} parts, before the third chunk`);
    assert.equal(reached, 0, `${path}: nothing too large reached the server`);

    const fits = echoed(await send(port, path, '/upload', { method: 'POST', body: 'y'.repeat(1000) }));
    assert.equal(fits.body, 'y'.repeat(1000), path);
    const whole = echoed(await send(port, path, '/upload', { raw: `${chunkedHead(path).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}${chunk(500)}${chunk(500)}0\r\n\r\n` }));
    assert.equal(whole.body, 'x'.repeat(1000), `${path}: a chunked body of exactly the limit goes through whole`);
    reached = 0;
  }
});
