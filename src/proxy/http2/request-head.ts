// An HTTP/2 request's header list, checked strictly (RFC 9113 §8.2, §8.3) and turned into what
// the HTTP/1.1 request for a backend is made of. Every string that reaches the HTTP/1.1 head is
// checked here first: this is where h2→h1 request smuggling would live.
import { METHODS } from 'node:http';
import { FIELD_VALUE, TARGET, TOKEN } from '../http1/syntax.js';
import { serializeRequestHead, upstreamRequestHeaders, type ForwardingFacts, type RequestEdits } from '../http/headers.js';

/** An HTTP/2 request that passed every check, ready to be sent as HTTP/1.1. */
export interface Http2RequestHead {
  readonly method: string;
  /** `:path`: origin-form, or `*` for OPTIONS. */
  readonly path: string;
  /** `:authority`, else `host`: the request's Host. */
  readonly authority: string;
  /** Regular fields as [name, value, ...], names lower-case, in the client's order; `host` left out (the authority is the Host), cookie crumbs joined. */
  readonly fields: readonly string[];
  /** 0: no body (END_STREAM on the head, or content-length: 0); -1: a body of unknown length; else its content-length. */
  readonly contentLength: number;
  /** `te: trailers`: the client reads trailers (gRPC), so a response from an HTTP/2 server may end with them. */
  readonly trailers: boolean;
}

export type Http2Translation = { readonly head: Http2RequestHead; readonly refused?: undefined } | { readonly head?: undefined; readonly refused: string };

/** Fields that mean something only on one HTTP/1.1 connection, which HTTP/2 forbids (RFC 9113 §8.2.2). */
const connectionSpecific: ReadonlySet<string> = new Set(['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'proxy-connection']);

const knownMethods: ReadonlySet<string> = new Set(METHODS);

const requestPseudoHeaders: ReadonlySet<string> = new Set([':method', ':scheme', ':path', ':authority']);

/** What an authority (host, port, IPv6 brackets, percent-escapes) may be written with (RFC 3986 §3.2.2, less userinfo). */
const AUTHORITY = /^[A-Za-z0-9._~!$&'()*+,;=:%[\]-]+$/;

/** A lower-case token (RFC 9113 §8.2.1: no uppercase in HTTP/2 field names). */
function badName(name: string): boolean {
  if (name.length === 0) return true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f || TOKEN[c] !== 1 || (c >= 0x41 && c <= 0x5a)) return true;
  }
  return false;
}

/** Anything but field-vchar, SP and HTAB (NUL, CR and LF above all), or whitespace at either end. */
function badValue(value: string): boolean {
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return true;
    if ((c === 0x20 || c === 0x09) && (i === 0 || i === last)) return true;
  }
  return false;
}

function badTarget(path: string, method: string): boolean {
  if (path === '*') return method !== 'OPTIONS';
  if (path.charCodeAt(0) !== 0x2f) return true;
  for (let i = 0; i < path.length; i++) if (TARGET[path.charCodeAt(i)] !== 1) return true;
  return false;
}

/**
 * Checks a request's header list as it came (`raw`: [name, value, ...] in wire order, as Node's
 * http2 gives it) and translates it. `endStream`: the head ended the stream (no body). Refused:
 * connection-specific fields, a `te` other than `trailers`, names that are not lower-case tokens,
 * values with NUL, CR, LF or other controls, pseudo-headers that are missing, repeated, unknown or
 * after a regular field, CONNECT, a content-length that is not one number or disagrees with an
 * ended stream, and a `host` that differs from `:authority`.
 */
export function translateRequest(raw: readonly string[], endStream: boolean): Http2Translation {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let contentLength: string | undefined;
  let cookie: string | undefined;
  let trailers = false;
  let regular = false;
  const fields: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return { refused: `pseudo-header ${name} after a regular field` };
      if (!requestPseudoHeaders.has(name)) return { refused: `unknown pseudo-header ${JSON.stringify(name)}` };
      if (badValue(value)) return { refused: `invalid value of ${name}` };
      switch (name) {
        case ':method':
          if (method !== undefined) return { refused: 'repeated :method' };
          method = value;
          break;
        case ':scheme':
          if (scheme !== undefined) return { refused: 'repeated :scheme' };
          scheme = value;
          break;
        case ':path':
          if (path !== undefined) return { refused: 'repeated :path' };
          path = value;
          break;
        default:
          if (authority !== undefined) return { refused: 'repeated :authority' };
          authority = value;
      }
      continue;
    }
    regular = true;
    if (badName(name)) return { refused: `invalid field name ${JSON.stringify(name)}` };
    if (badValue(value)) return { refused: `invalid value of ${name}` };
    if (connectionSpecific.has(name)) return { refused: `connection-specific field ${name}` };
    switch (name) {
      case 'te':
        if (value !== 'trailers') return { refused: 'te other than "trailers"' };
        trailers = true;
        continue;
      case 'host':
        if (host !== undefined) return { refused: 'repeated host' };
        host = value;
        continue;
      case 'content-length':
        if (contentLength !== undefined) return { refused: 'repeated content-length' };
        contentLength = value;
        break;
      case 'cookie':
        // RFC 9113 §8.2.3: crumbs are joined with "; " for HTTP/1.1 (an empty one would leave "; " at the end).
        if (value !== '') cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        continue;
    }
    fields.push(name, value);
  }
  if (method === undefined) return { refused: 'no :method' };
  if (method === 'CONNECT') return { refused: 'CONNECT is not supported' };
  // The methods Node's llhttp knows, as on HTTP/1.1 (where lb never accepts what llhttp refuses): a server behind lb may refuse any other.
  if (!knownMethods.has(method)) return { refused: 'unknown :method' };
  if (scheme !== 'https' && scheme !== 'http') return { refused: scheme === undefined ? 'no :scheme' : 'unknown :scheme' };
  if (path === undefined || path === '') return { refused: 'no :path' };
  if (badTarget(path, method)) return { refused: 'invalid :path' };
  if (authority !== undefined && host !== undefined && authority.toLowerCase() !== host.toLowerCase()) return { refused: ':authority and host differ' };
  const requestHost = authority ?? host;
  if (requestHost === undefined || requestHost === '') return { refused: 'no :authority or host' };
  if (!AUTHORITY.test(requestHost)) return { refused: 'invalid :authority' };
  let length = endStream ? 0 : -1;
  if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) return { refused: 'invalid content-length' };
    const declared = Number(contentLength);
    if (endStream && declared !== 0) return { refused: 'content-length with no DATA frames' };
    length = declared;
  }
  if (cookie !== undefined) fields.push('cookie', cookie);
  return { head: { method, path, authority: requestHost, fields, contentLength: length, trailers } };
}

/** The HTTP/1.1 request head for a backend: Host, the fields, X-Forwarded-* (headers.ts rules), and the framing of the body. */
export function http1RequestHead(head: Http2RequestHead, facts: ForwardingFacts, reset: boolean, edits?: RequestEdits): Buffer {
  const headers = upstreamRequestHeaders({ rawHeaders: ['host', head.authority, ...head.fields], headers: {}, host: head.authority }, facts, edits);
  if (head.contentLength < 0) headers.push('transfer-encoding', 'chunked');
  return serializeRequestHead(head.method, edits?.url ?? head.path, headers, reset);
}
