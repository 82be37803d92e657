import assert from 'node:assert/strict';
import test from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { connectionRecordingBackend as recordingBackend, keepAliveClient } from './helpers/unsafe-reuse.js';

const distinct = (ports: number[]) => new Set(ports).size;

for (const expectContinue of [false, true]) {
  const path = expectContinue ? "Node's parser" : 'the fast path';

  test(`unsafeReuse never: every POST gets a connection of its own (${path})`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: never,'));
    const send = await keepAliveClient(t, lb.port('web'), expectContinue);
    assert.deepEqual([await send('GET'), await send('POST'), await send('POST'), await send('GET')], [200, 200, 200, 200]);
    const [get, post1, post2, get2] = backend.seen;
    assert.equal(get!.port, get2!.port, 'GETs share the pooled connection');
    assert.equal(distinct([get!.port, post1!.port, post2!.port]), 3, 'each POST on a new connection');
    assert.deepEqual([post1!.connection, post2!.connection], ['close', 'close']);
  });

  test(`unsafeReuse safe: a pooled connection that closes under a later POST closes the client connection unanswered (${path})`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe, retries: 0,'));
    const send = await keepAliveClient(t, lb.port('web'), expectContinue);
    assert.equal(await send('GET'), 200);
    // The server closes as the POST arrives, as a server closing an idle connection would: the
    // client sees what it would have seen from the server itself, and may retry.
    assert.equal(await send('POST', '/drop'), null);
  });

  test(`unsafeReuse safe: the first request of a client connection gets its own, later POSTs are pooled (${path})`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe,'));
    const send = await keepAliveClient(t, lb.port('web'), expectContinue);
    assert.deepEqual([await send('POST'), await send('POST'), await send('POST')], [200, 200, 200]);
    const [first, second, third] = backend.seen;
    assert.equal(first!.connection, 'close', 'the first POST opens a connection for itself');
    assert.notEqual(first!.port, second!.port);
    assert.equal(second!.port, third!.port, 'later POSTs share a pooled connection');
    assert.notEqual(second!.connection, 'close');
  });
}

test('unsafeReuse always: a POST takes an idle pooled connection, even as the first request', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: always,'));
  assert.equal(await (await keepAliveClient(t, lb.port('web'), false))('GET'), 200);
  assert.equal(await (await keepAliveClient(t, lb.port('web'), false))('POST'), 200);
  const [get, post] = backend.seen;
  assert.equal(get!.port, post!.port);
  assert.notEqual(post!.connection, 'close');
});

test('unsafeReuse safe: a first POST that loses its connection is answered 502, and its connection goes on', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe, retries: 0,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('POST', '/drop'), 502);
  assert.equal(await send('GET'), 200);
});

test('unsafeReuse safe: a later POST on a new upstream connection that closes is answered 502 (the server read it)', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe, retries: 0,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET', '/last'), 200);
  assert.equal(await send('POST', '/drop'), 502);
  assert.equal(await send('GET'), 200, 'and the client connection goes on');
  assert.notEqual(backend.seen[0]!.port, backend.seen[1]!.port);
});

test('unsafeReuse safe: a connection the fast path served before it left it to Node still counts its requests', async (t) => {
  const backend = await recordingBackend(t);
  const lb = await startLb(t, oneServiceConfig(backend.url, 'unsafeReuse: safe,'));
  const send = await keepAliveClient(t, lb.port('web'), false);
  assert.equal(await send('GET'), 200);
  assert.equal(await send('POST', '/', true), 200, 'Expect: 100-continue is left to Node');
  const [get, post] = backend.seen;
  assert.equal(post!.port, get!.port, 'the POST is not the first of its connection: pooled');
  assert.notEqual(post!.connection, 'close');
});

// fresh: the POST takes the fresh pooled connection the GET left; never: a new one. Either way
// the server read it, so it is not sent again.
for (const mode of ['never', 'fresh']) {
  test(`unsafeReuse ${mode}: a POST that loses its connection is answered 502, on any request of a client connection`, async (t) => {
    const backend = await recordingBackend(t);
    const lb = await startLb(t, oneServiceConfig(backend.url, `unsafeReuse: ${mode}, retries: 0,`));
    const send = await keepAliveClient(t, lb.port('web'), false);
    assert.equal(await send('GET'), 200);
    assert.equal(await send('POST', '/drop'), 502);
    assert.equal(await send('GET'), 200);
    assert.equal(backend.seen[1]!.port === backend.seen[0]!.port, mode === 'fresh', `${mode}: the POST's connection`);
  });
}
