// The PROXY protocol (HAProxy's proxy-protocol.txt), versions 1 and 2: reading the header that a
// load balancer in front of lb sends, and writing one for servers behind lb. Only the addresses
// are used; v2 TLVs are skipped.
import { isIPv4, isIPv6 } from 'node:net';

export interface ProxiedAddresses {
  readonly source: { readonly address: string; readonly port: number };
  readonly destination: { readonly address: string; readonly port: number };
}

/** Why bytes are not a PROXY header: none at all (`missing`), or one that breaks the rules. */
export type ProxyHeaderFault = 'missing' | 'malformed';

export type ProxyHeaderResult =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly fault: ProxyHeaderFault; readonly reason: string }
  /** `addresses` undefined: a LOCAL or UNKNOWN header (a health check): the peer's own address stands. */
  | { readonly status: 'ok'; readonly length: number; readonly addresses: ProxiedAddresses | undefined };

const v2Signature = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const v1Prefix = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line the spec allows, CRLF included. */
const v1MaxBytes = 107;
/** v2 allows 64 KiB of TLVs; lb reads at most this much of a header. */
const maxProxyHeaderBytes = 16 + 4096;

const incomplete: ProxyHeaderResult = Object.freeze({ status: 'incomplete' });
const invalid = (reason: string): ProxyHeaderResult => ({ status: 'invalid', fault: 'malformed', reason });
const missing: ProxyHeaderResult = Object.freeze({ status: 'invalid', fault: 'missing', reason: 'no PROXY protocol header' });

/** True while `bytes` could still be the start of a PROXY header (of either version). */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

/** Reads a PROXY header at the start of `bytes`; `length` is where the client's own bytes begin. */
export function readProxyHeader(bytes: Buffer): ProxyHeaderResult {
  if (bytes.length === 0) return incomplete;
  if (startsLike(bytes, v2Signature)) return bytes.length < v2Signature.length ? incomplete : readV2(bytes);
  if (startsLike(bytes, v1Prefix)) return bytes.length < v1Prefix.length ? incomplete : readV1(bytes);
  return missing;
}

/**
 * Whether `bytes` begin with a PROXY header's signature: `undefined` while too few bytes have come
 * to tell (they could still start "PROXY " or v2's signature). A source that may not send the
 * header is screened with this, without waiting for a whole header.
 */
export function startsWithProxySignature(bytes: Buffer): boolean | undefined {
  for (const prefix of [v2Signature, v1Prefix]) {
    if (!startsLike(bytes, prefix)) continue;
    return bytes.length >= prefix.length ? true : undefined;
  }
  return false;
}

function readV1(bytes: Buffer): ProxyHeaderResult {
  const end = bytes.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return bytes.length >= v1MaxBytes ? invalid('PROXY v1 line too long') : incomplete;
  if (end + 2 > v1MaxBytes) return invalid('PROXY v1 line too long');
  const fields = bytes.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { status: 'ok', length, addresses: undefined };
  if (fields.length !== 6 || (fields[1] !== 'TCP4' && fields[1] !== 'TCP6')) return invalid('malformed PROXY v1 line');
  const [, family, source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string, string];
  // Node's isIPv6 takes a zone index (fe80::1%eth0), which is no address of another host: lb could
  // neither log it as one nor write it in a v2 header.
  const valid = family === 'TCP4' ? isIPv4 : (text: string) => isIPv6(text) && !text.includes('%');
  const port = (text: string) => (/^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined);
  const sp = port(sourcePort);
  const dp = port(destinationPort);
  if (!valid(source) || !valid(destination) || sp === undefined || dp === undefined) return invalid('malformed PROXY v1 addresses');
  return { status: 'ok', length, addresses: { source: { address: source, port: sp }, destination: { address: destination, port: dp } } };
}

function readV2(bytes: Buffer): ProxyHeaderResult {
  if (bytes.length < 16) return incomplete;
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return invalid('unknown PROXY protocol version');
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid('unknown PROXY v2 command');
  const family = bytes[13]!;
  const bodyLength = bytes.readUInt16BE(14);
  const length = 16 + bodyLength;
  if (length > maxProxyHeaderBytes) return invalid('PROXY v2 header too long');
  if (bytes.length < length) return incomplete;
  // LOCAL: the proxy speaks for itself (its health checks).
  if (command === 0) return { status: 'ok', length, addresses: undefined };
  const body = bytes.subarray(16, length);
  if (family === 0x11 || family === 0x12) {
    if (body.length < 12) return invalid('truncated PROXY v2 IPv4 addresses');
    const ip = (at: number) => `${body[at]}.${body[at + 1]}.${body[at + 2]}.${body[at + 3]}`;
    return { status: 'ok', length, addresses: { source: { address: ip(0), port: body.readUInt16BE(8) }, destination: { address: ip(4), port: body.readUInt16BE(10) } } };
  }
  if (family === 0x21 || family === 0x22) {
    if (body.length < 36) return invalid('truncated PROXY v2 IPv6 addresses');
    const ip = (at: number) => formatIPv6(body.subarray(at, at + 16));
    return { status: 'ok', length, addresses: { source: { address: ip(0), port: body.readUInt16BE(32) }, destination: { address: ip(16), port: body.readUInt16BE(34) } } };
  }
  // UNSPEC or unix sockets: nothing that is an IP address; the peer's own address stands.
  if (family === 0x00 || family === 0x31 || family === 0x32) return { status: 'ok', length, addresses: undefined };
  return invalid('unknown PROXY v2 address family');
}

/** An IPv6 address in its compressed text form, IPv4-mapped ones as Node shows them. */
function formatIPv6(bytes: Buffer): string {
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  // The longest run of zero groups (of two or more) becomes "::".
  let best = { at: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length && j - i > 1) best = { at: i, length: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}

/**
 * The header of a connection that lb opens for itself (a health check): v2 LOCAL, or v1
 * `PROXY UNKNOWN`; a server that requires the protocol accepts it and keeps the peer's address.
 */
export function writeLocalProxyHeader(version: 'v1' | 'v2'): Buffer {
  return version === 'v1' ? Buffer.from('PROXY UNKNOWN\r\n', 'latin1') : Buffer.concat([v2Signature, Buffer.from([0x20, 0x00, 0, 0])]);
}

/** The header lb sends to a server with `proxyProtocol: v1 | v2`, for one client connection. */
export function writeProxyHeader(version: 'v1' | 'v2', addresses: ProxiedAddresses): Buffer {
  const source = unmapped(addresses.source.address);
  const destination = unmapped(addresses.destination.address);
  const family = isIPv4(source) && isIPv4(destination) ? 4 : isIPv6(source) && isIPv6(destination) ? 6 : undefined;
  if (version === 'v1') {
    if (!family) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
    return Buffer.from(`PROXY TCP${family} ${source} ${destination} ${addresses.source.port} ${addresses.destination.port}\r\n`, 'latin1');
  }
  if (!family) return Buffer.concat([v2Signature, Buffer.from([0x21, 0x00, 0, 0])]);
  const size = family === 4 ? 12 : 36;
  const header = Buffer.alloc(16 + size);
  v2Signature.copy(header);
  header[12] = 0x21; // version 2, PROXY
  header[13] = family === 4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  header.writeUInt16BE(size, 14);
  const addressBytes = family === 4 ? ipv4Bytes : ipv6Bytes;
  const at = 16;
  addressBytes(source).copy(header, at);
  addressBytes(destination).copy(header, at + size / 2 - 2);
  header.writeUInt16BE(addresses.source.port, 16 + size - 4);
  header.writeUInt16BE(addresses.destination.port, 16 + size - 2);
  return header;
}

/** `::ffff:10.0.0.1` (a dual-stack socket's view of an IPv4 peer) as `10.0.0.1`. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  // A dotted IPv4 tail (64:ff9b::192.0.2.1) is the last two groups.
  const group = (g: string) => (g.includes('.') ? ((n) => [(n[0]! << 8) | n[1]!, (n[2]! << 8) | n[3]!])(g.split('.').map(Number)) : [parseInt(g, 16)]);
  const parse = (part: string) => (part ? part.split(':').flatMap(group) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...Array(8 - left.length - right.length).fill(0), ...right] as number[];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
