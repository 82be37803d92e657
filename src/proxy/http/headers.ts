import { BlockList, isIPv6 } from 'node:net';
import { copyBytes, writeLatin1 } from '../http1/bytes.js';
import { copyEditLines, editFields, editIndex, editLinesLength, editsName, type HeaderEdits } from '../http1/header-edits.js';
import type { RequestHead } from '../http1/request-head.js';
import type { ResponseHead } from '../http1/response-head.js';
import { classifyName, connectionTokens, HOP_BY_HOP_NAMES, Name } from '../http1/syntax.js';
import type { ClientRequest, SetCookie } from './client.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy Proxy-Connection. */
const hopByHop = new Set(HOP_BY_HOP_NAMES);

/** Headers Node already acted on, which must not travel on: `expect` (Node answered 100-continue). */
const consumed = new Set(['expect']);

const CRLF = '\r\n';

const forwardedFor = 'x-forwarded-for';
const forwardedProto = 'x-forwarded-proto';
const forwardedHost = 'x-forwarded-host';
const forwardedPort = 'x-forwarded-port';
const forwardedClientSubject = 'x-forwarded-tls-client-cert-subject';
/** The X-Forwarded-* lines lb writes (ForwardedChain). */
const ownForwarded = new Set([forwardedFor, forwardedProto, forwardedHost, forwardedPort, forwardedClientSubject]);

/** The edits, if one of them replaces or removes an X-Forwarded-* line that lb writes. */
function forwardedEdits(edits: RequestEdits | undefined): HeaderEdits | undefined {
  if (edits === undefined) return undefined;
  const list = edits.headerEdits;
  for (let i = 0; i < list.length; i++) if (ownForwarded.has(list[i]!.lower)) return list;
  return undefined;
}

/** A peer's address as logged and matched: IPv4-mapped IPv6 addresses as plain IPv4. */
export function clientAddress(remoteAddress: string | undefined): string {
  const address = remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** An IPv4 address in dotted-quad form as a 32-bit number, else undefined. */
function ipv4Number(text: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part > 255 || ++dots > 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && ++digits <= 3) {
      part = part * 10 + c - 0x30;
    } else {
      return undefined;
    }
  }
  return dots === 3 && digits > 0 && part <= 255 ? value * 256 + part : undefined;
}

/**
 * A set of address ranges (CIDRs). IPv4 addresses are matched as numbers: BlockList.check makes
 * a SocketAddress per call, which costs more than the rest of an allow list's work per request.
 */
export class AddressRanges {
  /** [network, prefix length] of the IPv4 ranges. */
  private readonly v4: Array<[number, number]> = [];
  private readonly v6: BlockList | undefined;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address, bits] = cidr.split('/') as [string, string | undefined];
      const v4 = ipv4Number(address);
      if (v4 !== undefined) {
        this.v4.push([v4, bits === undefined ? 32 : Number(bits)]);
        continue;
      }
      this.v6 ??= new BlockList();
      this.v6.addSubnet(address, bits === undefined ? 128 : Number(bits), 'ipv6');
    }
  }

  /** Whether `ip` (an address; anything else is not in any range) is in one of the ranges. */
  has(ip: string): boolean {
    // Most entrypoints trust no proxy: their every request asks this of an empty set.
    if (this.v4.length === 0 && this.v6 === undefined) return false;
    const v4 = ipv4Number(ip);
    if (v4 === undefined) return this.v6 !== undefined && isIPv6(ip) && this.v6.check(ip, 'ipv6');
    for (const [network, bits] of this.v4) {
      // Shifts are taken mod 32 in JavaScript: a /0 matches everything.
      if (bits === 0 || v4 >>> (32 - bits) === network >>> (32 - bits)) return true;
    }
    return false;
  }
}

/** Decides whether a peer's X-Forwarded-* headers are believed. */
export class TrustedProxies extends AddressRanges {
  trusts(ip: string): boolean {
    return this.has(ip);
  }
}

/** What a router's middlewares change in the request that goes upstream (middleware/chain.ts). */
export interface RequestEdits {
  /** The target (path and query) that goes upstream. */
  readonly url: string;
  /**
   * Headers the middlewares replaced or removed: the client's lines of them do not go on, and the
   * new ones are lb's own, so never taken for a client's X-Forwarded-* and dropped. An edit of an
   * X-Forwarded-* line that lb writes replaces lb's (or, empty, removes it), as Traefik's headers
   * middleware does: X-Forwarded-Proto: https behind a TLS terminator that lb cannot see.
   */
  readonly headerEdits: HeaderEdits;
}

/** Lower-case names listed in Connection headers: they are hop-by-hop too. */
function connectionNames(value: string | undefined): Set<string> | undefined {
  return value ? new Set(connectionTokens(value)) : undefined;
}

export interface ForwardingFacts {
  clientIp: string;
  trusted: boolean;
  /** The entrypoint's scheme, never the client's word. */
  proto: 'http' | 'https';
  port: number;
  /** Keep Connection: upgrade and Upgrade (WebSocket and other upgrades). */
  upgrade: boolean;
  /**
   * Set on https entrypoints with clientAuth.forwardSubject: lb alone says who the client is, so
   * X-Forwarded-Tls-Client-Cert-Subject from the client is dropped, and the verified subject (if
   * any, `''` for none) is sent. Undefined elsewhere: the header is one of the X-Forwarded-* of
   * trusted proxies (kept from them, dropped from others).
   */
  clientSubject?: string;
}

/**
 * The X-Forwarded-* headers of this hop. A trusted peer's own are extended (For) or kept (Proto,
 * Host, Port: the first of each); an untrusted peer's are replaced.
 */
class ForwardedChain {
  private priorFor: string | undefined;
  private proto: string | undefined;
  private host: string | undefined;
  private port: string | undefined;

  /** `ownSubject`: lb sets X-Forwarded-Tls-Client-Cert-Subject itself, so a client's is dropped. */
  constructor(private readonly ownSubject = false) {}

  /** Whether no X-Forwarded-* header was taken: the lines then depend only on this hop. */
  get empty(): boolean {
    return this.priorFor === undefined && this.proto === undefined && this.host === undefined && this.port === undefined;
  }

  /** Takes a trusted peer's X-Forwarded-* header; false for one that passes on as it is. */
  take(lower: string, value: string): boolean {
    if (lower === forwardedFor) this.priorFor = this.priorFor === undefined ? value : `${this.priorFor}, ${value}`;
    else if (lower === forwardedProto) this.proto ??= value;
    else if (lower === forwardedHost) this.host ??= value;
    else if (lower === forwardedPort) this.port ??= value;
    else if (lower !== forwardedClientSubject || !this.ownSubject) return false;
    return true;
  }

  /** [name, value, ...]; `edited`: the request's edits, when they replace or remove some of these (forwardedEdits). */
  headers(facts: ForwardingFacts, requestHost: string, edited?: HeaderEdits): string[] {
    const headers = [
      'X-Forwarded-For', this.priorFor === undefined ? facts.clientIp : `${this.priorFor}, ${facts.clientIp}`,
      'X-Forwarded-Proto', this.proto ?? facts.proto,
      'X-Forwarded-Host', this.host ?? requestHost,
      'X-Forwarded-Port', this.port ?? String(facts.port),
    ];
    if (facts.clientSubject) headers.push('X-Forwarded-Tls-Client-Cert-Subject', facts.clientSubject);
    if (edited === undefined) return headers;
    const kept: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (editIndex(edited, headers[i]!.toLowerCase()) < 0) kept.push(headers[i]!, headers[i + 1]!);
    return kept;
  }

  /** The same, as header lines, followed by the framing lines of this hop and the empty line. */
  tail(facts: ForwardingFacts, requestHost: string, chunked: boolean, reset: boolean, edited?: HeaderEdits): string {
    const h = this.headers(facts, requestHost, edited);
    let lines = '';
    for (let i = 0; i < h.length; i += 2) lines += `${h[i]}: ${h[i + 1]}\r\n`;
    return `${lines}${chunked ? 'Transfer-Encoding: chunked\r\n' : ''}${reset ? 'Connection: close\r\n' : ''}\r\n`;
  }
}

/**
 * The request headers to send upstream, as a flat [name, value, ...] list in the client's order
 * and case: hop-by-hop headers removed, Host unchanged, X-Forwarded-* set (extended only when the
 * peer is a trusted proxy, otherwise replaced). For requests that Node's parser read.
 */
export function upstreamRequestHeaders(req: Pick<ClientRequest, 'rawHeaders' | 'headers' | 'host'>, facts: ForwardingFacts, edits?: RequestEdits): string[] {
  const raw = req.rawHeaders;
  const connection = req.headers.connection;
  const named = connectionNames(Array.isArray(connection) ? connection.join(',') : connection);
  const out: string[] = [];
  const chain = new ForwardedChain(facts.clientSubject !== undefined);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (edits !== undefined && editIndex(edits.headerEdits, lower) >= 0) continue;
    if (lower.startsWith('x-forwarded-')) {
      if (facts.trusted && !chain.take(lower, value)) out.push(name, value);
      continue;
    }
    if (hopByHop.has(lower) || consumed.has(lower) || named?.has(lower)) {
      if (facts.upgrade && (lower === 'upgrade' || lower === 'connection')) out.push(name, lower === 'connection' ? 'upgrade' : value);
      continue;
    }
    out.push(name, value);
  }
  if (edits) editFields(edits.headerEdits, out);
  out.push(...chain.headers(facts, req.host, forwardedEdits(edits)));
  return out;
}

/** A whole request head for the backend from a header list (see upstreamRequestHeaders). */
export function serializeRequestHead(method: string, url: string, headers: readonly string[], reset: boolean): Buffer {
  let text = `${method} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return Buffer.from(`${text}${reset ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
}

/**
 * The X-Forwarded-* lines last made for a client connection. Between its requests they change
 * only with Host (the address and port are the connection's), so most requests reuse the bytes.
 */
export class ForwardedLines {
  host = '';
  bytes: Buffer | undefined;
}

/**
 * The request head for the backend, from a head the fast path read: the same rules as
 * upstreamRequestHeaders, applied to bytes. Lines that pass unchanged are copied in runs, so a
 * request costs no string per header.
 */
export function upstreamRequestHead(head: RequestHead, facts: ForwardingFacts, reset: boolean, last: ForwardedLines, edits?: RequestEdits): Buffer {
  const { buf, offsets } = head;
  const chain = new ForwardedChain(facts.clientSubject !== undefined);
  const named = head.connectionNamed;
  // Runs of bytes to copy, as [start, end) pairs; a dropped line ends the current run.
  const runs: number[] = [];
  let runStart = head.requestLineEnd;
  const headersEnd = buf.length - 2;
  for (let f = 0; f < offsets.length; f += 4) {
    const nameStart = offsets[f]!;
    const nameEnd = offsets[f + 1]!;
    let keep: boolean;
    switch (classifyName(buf, nameStart, nameEnd)) {
      case Name.Other:
        keep = named === undefined || !named.includes(buf.toString('latin1', nameStart, nameEnd).toLowerCase());
        break;
      case Name.Host:
      case Name.ContentLength:
        keep = true;
        break;
      case Name.Forwarded:
        keep = facts.trusted && !chain.take(buf.toString('latin1', nameStart, nameEnd).toLowerCase(), buf.toString('latin1', offsets[f + 2], offsets[f + 3]));
        break;
      default:
        keep = false;
    }
    if (keep && (edits === undefined || !editsName(edits.headerEdits, buf, nameStart, nameEnd))) continue;
    if (nameStart > runStart) runs.push(runStart, nameStart);
    runStart = f + 4 < offsets.length ? offsets[f + 4]! : headersEnd;
  }
  if (headersEnd > runStart) runs.push(runStart, headersEnd);
  const edited = forwardedEdits(edits);
  // The lines a connection's requests share, kept for its next request: not those an edit changed.
  const usual = chain.empty && head.contentLength >= 0 && !reset && edited === undefined;
  let tail = usual && last.host === head.host ? last.bytes : undefined;
  if (!tail) {
    tail = Buffer.from(chain.tail(facts, head.host, head.contentLength < 0, reset, edited), 'latin1');
    if (usual) {
      last.host = head.host;
      last.bytes = tail;
    }
  }
  if (edits) return editedHead(head, buf, runs, edits, tail);
  const requestLine = head.versionMinor === 1 ? undefined : `${head.method} ${head.url} HTTP/1.1\r\n`;
  let size = (requestLine?.length ?? head.requestLineEnd) + tail.length;
  for (let r = 0; r < runs.length; r += 2) size += runs[r + 1]! - runs[r]!;
  const out = Buffer.allocUnsafe(size);
  let at = requestLine === undefined ? copyBytes(buf, out, 0, 0, head.requestLineEnd) : writeLatin1(requestLine, out, 0);
  for (let r = 0; r < runs.length; r += 2) at += copyBytes(buf, out, at, runs[r]!, runs[r + 1]!);
  copyBytes(tail, out, at, 0, tail.length);
  return out;
}

/** The end of a request line that lb writes (the target changed, or the client spoke HTTP/1.0). */
const HTTP11_LINE_END = Buffer.from(' HTTP/1.1\r\n', 'latin1');

/** The head of upstreamRequestHead with a router's middlewares' edits: their target, and their headers before lb's X-Forwarded-*. */
function editedHead(head: RequestHead, buf: Buffer, runs: readonly number[], edits: RequestEdits, tail: Buffer): Buffer {
  // The client's request line goes as it is unless the target changed (or it was HTTP/1.0); then
  // its method and space are copied, and only the target is written from a string.
  const ownLine = edits.url === head.url && head.versionMinor === 1;
  const methodEnd = head.method.length + 1;
  const headerEdits = edits.headerEdits;
  // latin1: a character is a byte.
  let size = (ownLine ? head.requestLineEnd : methodEnd + edits.url.length + HTTP11_LINE_END.length) + editLinesLength(headerEdits) + tail.length;
  for (let r = 0; r < runs.length; r += 2) size += runs[r + 1]! - runs[r]!;
  const out = Buffer.allocUnsafe(size);
  let at: number;
  if (ownLine) {
    at = copyBytes(buf, out, 0, 0, head.requestLineEnd);
  } else {
    at = copyBytes(buf, out, 0, 0, methodEnd);
    at += writeLatin1(edits.url, out, at);
    at += copyBytes(HTTP11_LINE_END, out, at, 0, HTTP11_LINE_END.length);
  }
  for (let r = 0; r < runs.length; r += 2) at += copyBytes(buf, out, at, runs[r]!, runs[r + 1]!);
  at += copyEditLines(headerEdits, out, at);
  copyBytes(tail, out, at, 0, tail.length);
  return out;
}

/**
 * The response head for the client, from a backend's head: hop-by-hop lines dropped, the rest
 * copied as they are, with the head's edits (a router's middlewares), then `extra` (lines lb
 * adds, and the empty line). `room` more bytes are left free at the end of the buffer, so that a
 * small body can join the head in one write.
 */
export function downstreamResponseHead(head: ResponseHead, extra: string, room = 0): Buffer {
  const { buf, offsets, edits } = head;
  const named = head.connectionNamed;
  const out = Buffer.allocUnsafe(buf.length + (edits === undefined ? 0 : editLinesLength(edits)) + extra.length + 2 + room);
  let at: number;
  if (head.versionMinor === 1) at = copyBytes(buf, out, 0, 0, head.statusLineEnd);
  else at = writeLatin1(`HTTP/1.1 ${head.status} ${head.statusText}\r\n`, out, 0);
  let runStart = head.statusLineEnd;
  const headersEnd = buf.length - 2;
  for (let f = 0; f < offsets.length; f += 4) {
    const nameStart = offsets[f]!;
    const nameEnd = offsets[f + 1]!;
    const kind = classifyName(buf, nameStart, nameEnd);
    const keep = kind === Name.Other ? named === undefined || !named.includes(buf.toString('latin1', nameStart, nameEnd).toLowerCase()) : kind === Name.ContentLength || kind === Name.Host || kind === Name.Forwarded || kind === Name.Expect;
    if (keep && (edits === undefined || !editsName(edits, buf, nameStart, nameEnd))) continue;
    if (nameStart > runStart) at += copyBytes(buf, out, at, runStart, nameStart);
    runStart = f + 4 < offsets.length ? offsets[f + 4]! : headersEnd;
  }
  if (headersEnd > runStart) at += copyBytes(buf, out, at, runStart, headersEnd);
  if (edits !== undefined) at += copyEditLines(edits, out, at);
  if (extra === CRLF) {
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  } else {
    at += writeLatin1(extra, out, at);
  }
  return out.subarray(0, at + room);
}

/** Lower-case names that a header list's Connection headers name (hop-by-hop too), if any. */
function connectionNamed(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of connectionTokens(raw[i + 1]!)) (named ??= new Set()).add(token);
    }
  }
  return named;
}

/** Whether a response header stays with this hop. */
function isHopByHop(name: string, named: Set<string> | undefined): boolean {
  const lower = name.toLowerCase();
  return hopByHop.has(lower) || named?.has(lower) === true;
}

/** Set-Cookie header lines for a raw response head. */
export function setCookieLines(cookies: NonNullable<SetCookie>): string {
  return typeof cookies === 'string' ? `Set-Cookie: ${cookies}\r\n` : cookies.map((cookie) => `Set-Cookie: ${cookie}\r\n`).join('');
}

/** A response's headers, minus hop-by-hop ones, ready for writeHead; `hsts`: the entrypoint's Strict-Transport-Security. */
export function downstreamResponseHeaders(raw: readonly string[], extraSetCookie: SetCookie, hsts?: string): string[] {
  const out: string[] = [];
  const named = connectionNamed(raw);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!isHopByHop(name, named)) out.push(name, raw[i + 1]!);
  }
  if (typeof extraSetCookie === 'string') out.push('Set-Cookie', extraSetCookie);
  else if (extraSetCookie) for (const cookie of extraSetCookie) out.push('Set-Cookie', cookie);
  if (hsts) out.push('Strict-Transport-Security', hsts);
  return out;
}
