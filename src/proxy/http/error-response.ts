import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { ProxyError } from '../../errors.js';
import { editIndex, type HeaderEdits } from '../http1/header-edits.js';

/** `502 Bad Gateway: the backend refused the connection` — short, plain, and says which case. */
export function errorBody(status: number, text: string): string {
  return `${status} ${STATUS_CODES[status] ?? 'Error'}: ${text}\n`;
}

/**
 * The headers of an answer lb makes itself, with the response edits of the router's middlewares
 * that it goes back through (middleware/chain.ts, answerEdits), as a server's response would be
 * edited: an edited name replaced, an empty value removing it.
 */
export function editedAnswerHeaders(headers: ReadonlyArray<readonly [string, string]>, edits: HeaderEdits | undefined): ReadonlyArray<readonly [string, string]> {
  if (edits === undefined) return headers;
  const edited: Array<readonly [string, string]> = headers.filter(([name]) => editIndex(edits, name.toLowerCase()) < 0);
  for (const edit of edits) if (edit.value !== '') edited.push([edit.name, edit.value]);
  return edited;
}

/** The headers of lb's answer for a proxy error: its code, its own (Retry-After), then `edits`. */
export function errorHeaders(error: ProxyError, edits: HeaderEdits | undefined): ReadonlyArray<readonly [string, string]> {
  return editedAnswerHeaders([['lb-error', error.code], ...error.headers], edits);
}

/** `hsts`: the Strict-Transport-Security value of an https entrypoint that sets one. */
export function sendProxyError(res: ServerResponse, error: ProxyError, hsts: string | undefined, edits: HeaderEdits | undefined): void {
  sendResponse(res, error.status, errorHeaders(error, edits), errorBody(error.status, error.message), hsts);
}

/** lb's answer for a proxy error, for a raw socket (see rawResponse). */
export function proxyErrorResponse(error: ProxyError, connection: 'close' | 'keep-alive' | undefined, extra: string, edits: HeaderEdits | undefined): Buffer {
  return rawResponse(error.status, errorHeaders(error, edits), errorBody(error.status, error.message), connection, extra);
}

/**
 * A whole response for a raw socket: the fast path's errors, upgrade requests and parse errors.
 * `connection`: the Connection header to send, none for an HTTP/1.1 keep-alive. `extra`: header
 * lines the entrypoint adds to every response (HSTS), each ending in CRLF.
 */
export function rawErrorResponse(status: number, text: string, code?: string, connection: 'close' | 'keep-alive' | undefined = 'close', extra = ''): Buffer {
  return rawResponse(status, code ? [['lb-error', code]] : [], errorBody(status, text), connection, extra);
}

/** Whether `headers` name their own Content-Type (else a body lb makes is plain text). */
function typed(headers: ReadonlyArray<readonly [string, string]>): boolean {
  return headers.some(([name]) => name.length === 12 && name.toLowerCase() === 'content-type');
}

/**
 * A whole response lb answers itself (redirects, errors), for a raw socket; the body is plain text
 * unless `headers` say otherwise. A body given as bytes (an auth server's page) goes as it is.
 * Text is turned into bytes as latin1, the way lb reads requests: a Location or a body that
 * repeats a client's path holds its bytes as they came, and Content-Length counts those bytes.
 */
export function rawResponse(status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer, connection: 'close' | 'keep-alive' | undefined = 'close', extra = ''): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${typed(headers) ? '' : 'Content-Type: text/plain; charset=utf-8\r\n'}Content-Length: ${bytes.length}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  head += `${extra}${connection ? `Connection: ${connection}\r\n` : ''}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

/** The same through Node's ServerResponse. */
export function sendResponse(res: ServerResponse, status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer, hsts?: string): void {
  const flat: string[] = typed(headers) ? ['content-length', String(Buffer.byteLength(body))] : ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body))];
  for (const [name, value] of headers) flat.push(name, value);
  if (hsts) flat.push('strict-transport-security', hsts);
  res.writeHead(status, flat);
  res.end(body);
}
