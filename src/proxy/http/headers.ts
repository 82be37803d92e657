import type { ClientRequest } from './client.js';
import { BlockList, isIPv6 } from 'node:net';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy Proxy-Connection. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Headers Node already acted on, which must not travel on: `expect` (Node answered 100-continue). */
const consumed = new Set(['expect']);

const forwardedFor = 'x-forwarded-for';
const forwardedProto = 'x-forwarded-proto';
const forwardedHost = 'x-forwarded-host';
const forwardedPort = 'x-forwarded-port';

/** A peer's address as logged and matched: IPv4-mapped IPv6 addresses as plain IPv4. */
export function clientAddress(remoteAddress: string | undefined): string {
  const address = remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Decides whether a peer's X-Forwarded-* headers are believed. */
export class TrustedProxies {
  private readonly list: BlockList | undefined;

  constructor(cidrs: readonly string[]) {
    if (cidrs.length === 0) return;
    this.list = new BlockList();
    for (const cidr of cidrs) {
      const [address, bits] = cidr.split('/') as [string, string | undefined];
      const family = isIPv6(address) ? 'ipv6' : 'ipv4';
      this.list.addSubnet(address, bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits), family);
    }
  }

  trusts(ip: string): boolean {
    return this.list !== undefined && this.list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  }
}

/** Lower-case names listed in Connection headers: they are hop-by-hop too. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

export interface ForwardingFacts {
  clientIp: string;
  trusted: boolean;
  proto: 'http' | 'https';
  port: number;
  /** Keep Connection: upgrade and Upgrade (WebSocket and other upgrades). */
  upgrade: boolean;
}

/**
 * The request headers to send upstream, as a flat [name, value, ...] list in the client's order
 * and case: hop-by-hop headers removed, Host unchanged, X-Forwarded-* set (extended only when the
 * peer is a trusted proxy, otherwise replaced).
 */
export function upstreamRequestHeaders(req: Pick<ClientRequest, 'rawHeaders' | 'headers' | 'host'>, facts: ForwardingFacts): string[] {
  const raw = req.rawHeaders;
  const connection = req.headers.connection;
  const named = connectionTokens(Array.isArray(connection) ? connection.join(',') : connection);
  const out: string[] = [];
  let priorFor: string | undefined;
  let proto: string | undefined;
  let host: string | undefined;
  let port: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (lower.startsWith('x-forwarded-')) {
      if (!facts.trusted) continue;
      if (lower === forwardedFor) priorFor = priorFor === undefined ? value : `${priorFor}, ${value}`;
      else if (lower === forwardedProto) proto ??= value;
      else if (lower === forwardedHost) host ??= value;
      else if (lower === forwardedPort) port ??= value;
      else out.push(name, value);
      continue;
    }
    if (hopByHop.has(lower) || consumed.has(lower) || named?.has(lower)) {
      if (facts.upgrade && (lower === 'upgrade' || lower === 'connection')) out.push(name, lower === 'connection' ? 'upgrade' : value);
      continue;
    }
    out.push(name, value);
  }
  out.push(
    'X-Forwarded-For', priorFor === undefined ? facts.clientIp : `${priorFor}, ${facts.clientIp}`,
    'X-Forwarded-Proto', proto ?? facts.proto,
    'X-Forwarded-Host', host ?? req.host,
    'X-Forwarded-Port', port ?? String(facts.port),
  );
  return out;
}

/** Lower-case names that a header list's Connection headers name (hop-by-hop too), if any. */
export function connectionNamed(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of connectionTokens(raw[i + 1]) ?? []) (named ??= new Set()).add(token);
    }
  }
  return named;
}

/** Whether a response header stays with this hop. */
export function isHopByHop(name: string, named: Set<string> | undefined): boolean {
  const lower = name.toLowerCase();
  return hopByHop.has(lower) || named?.has(lower) === true;
}

/** A response's headers, minus hop-by-hop ones, ready for writeHead. */
export function downstreamResponseHeaders(raw: readonly string[], extraSetCookie: string | undefined): string[] {
  const out: string[] = [];
  const named = connectionNamed(raw);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!isHopByHop(name, named)) out.push(name, raw[i + 1]!);
  }
  if (extraSetCookie) out.push('Set-Cookie', extraSetCookie);
  return out;
}
