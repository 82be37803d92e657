// The PROXY protocol reader (v1 and v2). It returns one of its three result shapes and never
// throws; a header it accepts is read the same with any bytes after it, every proper prefix of it
// is incomplete, and the addresses it yields round-trip through writeProxyHeader, in both versions.
import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import { readProxyHeader, writeProxyHeader, type ProxiedAddresses } from '../../../src/proxy/proxy-protocol.js';

/** One text form per address: IPv4-mapped IPv6 as IPv4 (as lb writes it), IPv6 compressed. */
function canonical(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  return isIPv4(address) ? address : new URL(`http://[${address}]/`).hostname;
}

function canonicalAll(a: ProxiedAddresses): ProxiedAddresses {
  return { source: { address: canonical(a.source.address), port: a.source.port }, destination: { address: canonical(a.destination.address), port: a.destination.port } };
}

export function fuzz(data: Buffer): void {
  const result = readProxyHeader(data);
  const context = JSON.stringify(data.toString('latin1'));
  if (result.status === 'incomplete') return;
  if (result.status === 'invalid') {
    assert.ok(result.fault === 'missing' || result.fault === 'malformed', context);
    assert.ok(typeof result.reason === 'string' && result.reason.length > 0, context);
    return;
  }
  assert.equal(result.status, 'ok', context);
  assert.ok(Number.isInteger(result.length) && result.length > 0 && result.length <= data.length, `length ${result.length}: ${context}`);
  const header = data.subarray(0, result.length);
  assert.deepEqual(readProxyHeader(header), result, `the header alone: ${context}`);
  for (let cut = 0; cut < header.length; cut++) assert.equal(readProxyHeader(header.subarray(0, cut)).status, 'incomplete', `prefix ${cut}: ${context}`);
  if (!result.addresses) return;
  const expected = canonicalAll(result.addresses);
  for (const version of ['v1', 'v2'] as const) {
    const written = writeProxyHeader(version, result.addresses);
    const back = readProxyHeader(written);
    assert.ok(back.status === 'ok' && back.length === written.length, `${version} ${JSON.stringify(written.toString('latin1'))} from ${context}`);
    // A v4 source with a v6 destination has no TCP4 or TCP6 form: lb writes UNKNOWN.
    if (isIPv4(expected.source.address) !== isIPv4(expected.destination.address)) assert.equal(back.addresses, undefined, `${version} from ${context}`);
    else assert.deepEqual(back.addresses && canonicalAll(back.addresses), expected, `${version} round trip of ${context}`);
  }
}
