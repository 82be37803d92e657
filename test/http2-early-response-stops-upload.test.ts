// When lb's answer to an HTTP/2 request is complete before the client has sent all of its body
// (a 408 for an upload that stalled, a server that answered early), RST_STREAM NO_ERROR follows
// the response (RFC 9113 §8.1): the client gets the whole response, then is told to stop sending,
// and its session goes on serving.
import assert from 'node:assert/strict';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { h2Request } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

/** A POST that declares 100 bytes and sends 20, then waits: its status, body, and how the stream ended. */
async function unfinishedUpload(session: ClientHttp2Session): Promise<{ status: number; body: string; rstCode: number | undefined }> {
  const stream = session.request({ ':method': 'POST', ':path': '/up', ':authority': 'app.test', 'content-length': '100' }, { endStream: false });
  stream.write(Buffer.alloc(20, 'x'));
  let status = 0;
  let body = '';
  stream.on('response', (headers) => (status = Number(headers[':status'])));
  stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  stream.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the stream stayed open after its ${status} response`)), 5_000);
    stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return { status, body, rstCode: stream.rstCode };
}

async function lbWith(t: TestContext, backendUrl: string) {
  const lb = await startLb(t, lbYaml(`
routers: { r: { entrypoint: web, service: svc } }
services: { svc: { retries: 0, servers: [ { url: "${backendUrl}" } ] } }
`, { web: 'http2: { cleartext: true }, timeouts: { requestBody: 300ms }' }));
  const session = connect(`http://127.0.0.1:${lb.port('web')}`);
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  return session;
}

test('an upload that stalls gets its 408, then RST_STREAM NO_ERROR', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => req.resume().on('end', () => res.end('read')));
  const session = await lbWith(t, backend.url);
  const ended = await unfinishedUpload(session);
  assert.equal(ended.status, 408);
  assert.match(ended.body, /408/);
  assert.equal(ended.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.equal((await h2Request(session, { ':path': '/next', ':authority': 'app.test' })).status, 200, 'the session goes on');
});

test('a server that answers before the upload ends: its whole response, then RST_STREAM NO_ERROR', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.method === 'POST') res.end('answered before the body');
    else res.end('ok');
  });
  const session = await lbWith(t, backend.url);
  const ended = await unfinishedUpload(session);
  assert.equal(ended.status, 200);
  assert.equal(ended.body, 'answered before the body');
  assert.equal(ended.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.equal((await h2Request(session, { ':path': '/next', ':authority': 'app.test' })).status, 200, 'the session goes on');
});
