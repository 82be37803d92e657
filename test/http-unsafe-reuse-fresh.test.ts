// unsafeReuse: fresh (the default): a POST takes an idle pooled connection only while the server
// is sure to keep it open, judged by the Keep-Alive timeout the server names, or a second where
// it names none; otherwise a new keep-alive connection.
import assert from 'node:assert/strict';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { connectionRecordingBackend, keepAliveClient } from './helpers/unsafe-reuse.js';

test('unsafeReuse fresh (the default): POSTs take the connection a response has just left, kept alive', async (t) => {
  const backend = await connectionRecordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.deepEqual([await send('POST'), await send('GET'), await send('POST'), await send('PATCH')], [200, 200, 200, 200]);
  assert.equal(new Set(backend.seen.map((s) => s.port)).size, 1, 'one pooled connection carried them all');
  assert.ok(backend.seen.every((s) => s.connection !== 'close'), 'no request asks the server to close');
});

test('unsafeReuse fresh: a server that names no Keep-Alive timeout gets a POST on a new connection once its idle one waited a second; GETs still reuse it', async (t) => {
  const backend = await connectionRecordingBackend(t);
  // No idle timeout, so Node names none in a Keep-Alive header.
  backend.server.keepAliveTimeout = 0;
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET'), 200);
  await sleep(1_200);
  assert.equal(await send('GET'), 200);
  await sleep(1_200);
  assert.equal(await send('POST'), 200);
  const [first, get, post] = backend.seen;
  assert.equal(get!.port, first!.port, 'a GET reuses a connection idle for 1.2 s');
  assert.notEqual(post!.port, get!.port, 'a POST does not');
  assert.notEqual(post!.connection, 'close', 'the new connection joins the pool');
});

test("unsafeReuse fresh: the server's Keep-Alive timeout (4 s) less a second is how long a POST may reuse an idle connection", async (t) => {
  const backend = await connectionRecordingBackend(t);
  backend.server.keepAliveTimeout = 4_000;
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET'), 200);
  await sleep(1_300);
  assert.equal(await send('POST'), 200);
  await sleep(3_300);
  assert.equal(await send('POST'), 200);
  const [get, reused, renewed] = backend.seen;
  assert.equal(reused!.port, get!.port, 'idle 1.3 s of the 3 s the server allows (more than the 1 s assumed without its header)');
  assert.notEqual(renewed!.port, reused!.port, 'idle 3.3 s: a new connection');
});
