// Reads a TLS ClientHello without terminating TLS: the server name (SNI) and the offered ALPN
// protocols, from the first bytes a client sends. Used to route TCP connections by SNI (the bytes
// are then forwarded untouched) and to answer ACME tls-alpn-01, which Node's SNICallback cannot
// see. The bytes may arrive in any number of TCP segments and TLS records; the reader says
// `incomplete` until it has the whole ClientHello.

export type ClientHelloResult =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string }
  | { readonly status: 'ok'; readonly serverName: string | undefined; readonly alpn: readonly string[] };

const recordHandshake = 22;
const handshakeClientHello = 1;
const extensionServerName = 0;
const extensionAlpn = 16;
/** A ClientHello with many extensions (post-quantum key shares) is still far below this. */
const maxClientHelloBytes = 64 * 1024;

const incomplete: ClientHelloResult = Object.freeze({ status: 'incomplete' });
const invalid = (reason: string): ClientHelloResult => ({ status: 'invalid', reason });

/** Joins the payloads of the handshake records at the start of `bytes`, as far as they go. */
function handshakeBytes(bytes: Buffer): { payload: Buffer; complete: boolean } | { reason: string } {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    if (bytes[offset] !== recordHandshake) return { reason: offset === 0 ? 'not a TLS handshake' : 'a non-handshake record inside the ClientHello' };
    if (bytes[offset + 1] !== 3) return { reason: 'not a TLS record version' };
    const length = bytes.readUInt16BE(offset + 3);
    if (length === 0 || length > 16_384 + 2048) return { reason: 'a TLS record of impossible length' };
    const end = offset + 5 + length;
    parts.push(bytes.subarray(offset + 5, Math.min(end, bytes.length)));
    if (end > bytes.length) return { payload: Buffer.concat(parts), complete: false };
    offset = end;
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    // The ClientHello may span records; stop at the first record that completes it.
    if (joined.length >= 4 && joined.length >= 4 + joined.readUIntBE(1, 3)) return { payload: joined, complete: true };
  }
  if (bytes.length > 0 && bytes[0] !== recordHandshake) return { reason: 'not a TLS handshake' };
  return { payload: Buffer.concat(parts), complete: false };
}

/** Reads the ClientHello at the start of `bytes` (everything the client has sent so far). */
export function readClientHello(bytes: Buffer): ClientHelloResult {
  if (bytes.length > maxClientHelloBytes) return invalid('ClientHello too large');
  const records = handshakeBytes(bytes);
  if ('reason' in records) return invalid(records.reason);
  const { payload } = records;
  if (payload.length < 4) return incomplete;
  if (payload[0] !== handshakeClientHello) return invalid('the first handshake message is not a ClientHello');
  const length = payload.readUIntBE(1, 3);
  if (length > maxClientHelloBytes) return invalid('ClientHello too large');
  if (payload.length < 4 + length) return records.complete ? invalid('truncated ClientHello') : incomplete;
  return parseBody(payload.subarray(4, 4 + length));
}

function parseBody(body: Buffer): ClientHelloResult {
  let at = 2 + 32; // client_version, random
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (at + lengthBytes > body.length) return false;
    at += lengthBytes + body.readUIntBE(at, lengthBytes);
    return at <= body.length;
  };
  if (at > body.length || !skip(1) || !skip(2) || !skip(1)) return invalid('malformed ClientHello');
  let serverName: string | undefined;
  const alpn: string[] = [];
  if (at === body.length) return { status: 'ok', serverName, alpn }; // no extensions at all
  if (at + 2 > body.length) return invalid('malformed ClientHello extensions');
  const end = at + 2 + body.readUInt16BE(at);
  if (end > body.length) return invalid('malformed ClientHello extensions');
  at += 2;
  while (at + 4 <= end) {
    const type = body.readUInt16BE(at);
    const size = body.readUInt16BE(at + 2);
    const data = body.subarray(at + 4, at + 4 + size);
    if (at + 4 + size > end) return invalid('malformed ClientHello extension');
    at += 4 + size;
    if (type === extensionServerName) {
      const name = readServerName(data);
      if (name === null) return invalid('malformed server_name extension');
      serverName = name;
    } else if (type === extensionAlpn) {
      if (!readAlpn(data, alpn)) return invalid('malformed ALPN extension');
    }
  }
  if (at !== end) return invalid('malformed ClientHello extensions');
  return { status: 'ok', serverName, alpn };
}

/** The host_name entry of a server_name extension, lower-cased; null when malformed. */
function readServerName(data: Buffer): string | undefined | null {
  if (data.length < 2 || 2 + data.readUInt16BE(0) !== data.length) return null;
  for (let at = 2; at < data.length; ) {
    if (at + 3 > data.length) return null;
    const type = data[at]!;
    const size = data.readUInt16BE(at + 1);
    if (at + 3 + size > data.length) return null;
    const name = data.toString('latin1', at + 3, at + 3 + size);
    at += 3 + size;
    if (type !== 0) continue;
    // RFC 6066: a DNS name in ASCII, without a trailing dot.
    if (size === 0 || !/^[A-Za-z0-9._-]+$/.test(name)) return null;
    return name.toLowerCase();
  }
  return undefined;
}

function readAlpn(data: Buffer, into: string[]): boolean {
  if (data.length < 2 || 2 + data.readUInt16BE(0) !== data.length) return false;
  for (let at = 2; at < data.length; ) {
    const size = data[at]!;
    if (size === 0 || at + 1 + size > data.length) return false;
    into.push(data.toString('latin1', at + 1, at + 1 + size));
    at += 1 + size;
  }
  return true;
}
