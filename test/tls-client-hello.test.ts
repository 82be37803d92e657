import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readClientHello } from '../src/tls/client-hello.js';
import { captureClientHello } from './helpers/tls.js';

test('a real ClientHello gives its server name (lower-cased) and ALPN protocols', { timeout: 10_000 }, async () => {
  const hello = await captureClientHello({ servername: 'DB.Example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.deepEqual(readClientHello(hello), { status: 'ok', serverName: 'db.example.com', alpn: ['h2', 'http/1.1'] });
  const bare = await captureClientHello({});
  assert.deepEqual(readClientHello(bare), { status: 'ok', serverName: undefined, alpn: [] });
});

test('every prefix of a ClientHello is incomplete, so a hello split over segments still routes', { timeout: 10_000 }, async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  for (let cut = 0; cut < hello.length; cut++) assert.equal(readClientHello(hello.subarray(0, cut)).status, 'incomplete', `cut at ${cut}`);
});

test('a ClientHello split over two TLS records is read whole', { timeout: 10_000 }, async () => {
  const hello = await captureClientHello({ servername: 'split.example.com', ALPNProtocols: ['acme-tls/1'] });
  const handshake = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const record = (payload: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, payload.length >> 8, payload.length & 0xff]), payload]);
  const twoRecords = Buffer.concat([record(handshake.subarray(0, 40)), record(handshake.subarray(40))]);
  assert.deepEqual(readClientHello(twoRecords), { status: 'ok', serverName: 'split.example.com', alpn: ['acme-tls/1'] });
  assert.equal(readClientHello(twoRecords.subarray(0, 50)).status, 'incomplete');
});

test('garbage, plain HTTP and damaged ClientHellos are invalid, with a reason', { timeout: 10_000 }, async () => {
  assert.deepEqual(readClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), { status: 'invalid', reason: 'not a TLS handshake' });
  assert.equal(readClientHello(Buffer.from([22, 9, 9, 0, 10])).status, 'invalid');
  assert.equal(readClientHello(Buffer.from([22, 3, 1, 0, 0])).status, 'invalid', 'an empty record');
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const damaged = Buffer.from(hello);
  // Claim a longer extensions block than the ClientHello holds.
  const sessionIdAt = 5 + 4 + 34;
  let at = sessionIdAt + 1 + damaged[sessionIdAt]!;
  at += 2 + damaged.readUInt16BE(at);
  at += 1 + damaged[at]!;
  damaged.writeUInt16BE(0xfff0, at);
  assert.deepEqual(readClientHello(damaged), { status: 'invalid', reason: 'malformed ClientHello extensions' });
  const notHello = Buffer.from(hello);
  notHello[5] = 2; // a ServerHello
  assert.equal(readClientHello(notHello).status, 'invalid');
  assert.deepEqual(readClientHello(Buffer.alloc(70_000, 22)), { status: 'invalid', reason: 'ClientHello too large' });
});
