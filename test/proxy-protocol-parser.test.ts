import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readProxyHeader, startsWithProxySignature, writeLocalProxyHeader, writeProxyHeader } from '../src/proxy/proxy-protocol.js';

const v4 = { source: { address: '192.0.2.10', port: 51234 }, destination: { address: '198.51.100.1', port: 443 } };
const v6 = { source: { address: '2001:db8::1', port: 40000 }, destination: { address: '2001:db8:0:0:1::2', port: 8443 } };

test('v1 and v2 headers that lb writes are read back, IPv4 and IPv6, with the client bytes after them', () => {
  for (const version of ['v1', 'v2'] as const) {
    for (const addresses of [v4, v6]) {
      const header = writeProxyHeader(version, addresses);
      const result = readProxyHeader(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]));
      assert.equal(result.status, 'ok');
      if (result.status !== 'ok') return;
      assert.equal(result.length, header.length);
      assert.deepEqual(result.addresses!.source, addresses.source);
      assert.equal(result.addresses!.destination.port, addresses.destination.port);
    }
  }
  assert.equal(writeProxyHeader('v1', v6).toString(), 'PROXY TCP6 2001:db8::1 2001:db8:0:0:1::2 40000 8443\r\n');
  assert.equal(writeProxyHeader('v1', { ...v4, source: { address: '::ffff:192.0.2.10', port: 1 } }).toString(), 'PROXY TCP4 192.0.2.10 198.51.100.1 1 443\r\n');
});

test('the v2 IPv6 text form is the compressed one', () => {
  const header = writeProxyHeader('v2', { source: { address: '2001:db8:0:0:1:0:0:1', port: 1 }, destination: { address: '::1', port: 2 } });
  const result = readProxyHeader(header);
  assert.ok(result.status === 'ok');
  assert.equal(result.addresses!.source.address, '2001:db8::1:0:0:1');
  assert.equal(result.addresses!.destination.address, '::1');
});

test('every prefix of a header is incomplete, so a header split over segments is still read', () => {
  for (const version of ['v1', 'v2'] as const) {
    const header = writeProxyHeader(version, v4);
    for (let cut = 0; cut < header.length; cut++) assert.equal(readProxyHeader(header.subarray(0, cut)).status, 'incomplete', `${version} cut at ${cut}`);
  }
});

test('LOCAL, UNKNOWN and UNSPEC headers leave the peer address standing', () => {
  assert.deepEqual(readProxyHeader(Buffer.from('PROXY UNKNOWN\r\nrest')), { status: 'ok', length: 15, addresses: undefined });
  const local = Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), Buffer.from([0x20, 0x00, 0, 0])]);
  assert.deepEqual(readProxyHeader(local), { status: 'ok', length: 16, addresses: undefined });
  assert.deepEqual(readProxyHeader(writeProxyHeader('v2', { source: { address: '192.0.2.1', port: 1 }, destination: { address: '::1', port: 2 } })), { status: 'ok', length: 16, addresses: undefined });
});

test('malformed, foreign and oversized headers are invalid, with a reason', () => {
  assert.deepEqual(readProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), { status: 'invalid', fault: 'missing', reason: 'no PROXY protocol header' });
  assert.equal(readProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n')).status, 'invalid');
  assert.equal(readProxyHeader(Buffer.from('PROXY TCP4 1.2.3.999 5.6.7.8 80 81\r\n')).status, 'invalid');
  assert.equal(readProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n')).status, 'invalid');
  assert.equal(readProxyHeader(Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 80 81\r\n')).status, 'invalid');
  // Found by the fuzz target (test/fuzz): an IPv6 zone index is no client address.
  assert.deepEqual(readProxyHeader(Buffer.from('PROXY TCP6 fe80::1%eth0 ::2 4000 83\r\n')), { status: 'invalid', fault: 'malformed', reason: 'malformed PROXY v1 addresses' });
  assert.deepEqual(readProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`)), { status: 'invalid', fault: 'malformed', reason: 'PROXY v1 line too long' });
  const v2 = writeProxyHeader('v2', v4);
  const badVersion = Buffer.from(v2);
  badVersion[12] = 0x31;
  assert.equal(readProxyHeader(badVersion).status, 'invalid');
  const short = Buffer.from(v2);
  short.writeUInt16BE(4, 14);
  assert.deepEqual(readProxyHeader(short), { status: 'invalid', fault: 'malformed', reason: 'truncated PROXY v2 IPv4 addresses' });
  const huge = Buffer.from(v2);
  huge.writeUInt16BE(60_000, 14);
  assert.deepEqual(readProxyHeader(huge), { status: 'invalid', fault: 'malformed', reason: 'PROXY v2 header too long' });
});

test('a signature is told from other bytes as soon as enough of them have come', () => {
  assert.equal(startsWithProxySignature(Buffer.from('PRO')), undefined);
  assert.equal(startsWithProxySignature(Buffer.from('PROPFIND / HTTP/1.1')), false);
  assert.equal(startsWithProxySignature(Buffer.from('PROXY ')), true);
  assert.equal(startsWithProxySignature(Buffer.from('\r\n')), undefined, 'the start of v2\'s signature');
  assert.equal(startsWithProxySignature(writeProxyHeader('v2', v4).subarray(0, 12)), true);
  assert.equal(startsWithProxySignature(Buffer.from('GET / HTTP/1.1\r\n')), false);
});

test('LOCAL headers for lb\'s own connections, and IPv6 addresses with a dotted IPv4 tail', () => {
  assert.deepEqual(readProxyHeader(writeLocalProxyHeader('v2')), { status: 'ok', length: 16, addresses: undefined });
  assert.equal(writeLocalProxyHeader('v1').toString(), 'PROXY UNKNOWN\r\n');
  const header = writeProxyHeader('v2', { source: { address: '64:ff9b::192.0.2.1', port: 1 }, destination: { address: '::1', port: 2 } });
  const result = readProxyHeader(header);
  assert.ok(result.status === 'ok');
  assert.equal(result.addresses!.source.address, '64:ff9b::c000:201');
});
