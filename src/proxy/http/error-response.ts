import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { ProxyError } from '../../errors.js';

/** `502 Bad Gateway: the backend refused the connection` — short, plain, and says which case. */
export function errorBody(status: number, text: string): string {
  return `${status} ${STATUS_CODES[status] ?? 'Error'}: ${text}\n`;
}

export function sendProxyError(res: ServerResponse, error: ProxyError): void {
  const body = errorBody(error.status, error.message);
  res.writeHead(error.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'lb-error': error.code,
  });
  res.end(body);
}

/**
 * A whole response for a raw socket: the fast path's errors, upgrade requests and parse errors.
 * `connection`: the Connection header to send, none for an HTTP/1.1 keep-alive.
 */
export function rawErrorResponse(status: number, text: string, code?: string, connection: 'close' | 'keep-alive' | undefined = 'close'): string {
  return rawTextResponse(status, errorBody(status, text), code ? `lb-error: ${code}\r\n` : '', connection);
}

/** A whole plain-text response of lb's own for a raw socket; `headers`: more lines, each ending in CRLF. */
export function rawTextResponse(status: number, body: string, headers = '', connection: 'close' | 'keep-alive' | undefined = 'close'): string {
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    headers +
    (connection ? `Connection: ${connection}\r\n` : '') +
    `\r\n${body}`
  );
}
