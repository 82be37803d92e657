import type { Middleware, MiddlewareFactory, ResponseHeaders } from './middleware.js';

/** `headers`: sets request headers sent upstream and response headers sent back; an empty value removes one. */
export const headers: MiddlewareFactory<'headers'> = ({ settings }) => {
  const request = [...(settings.customRequestHeaders ?? [])];
  const response = [...(settings.customResponseHeaders ?? [])];
  const middleware: Middleware = {};
  if (request.length) {
    middleware.onRequest = (req) => {
      for (const [name, value] of request) req.setHeader(name, value);
      return undefined;
    };
  }
  if (response.length) middleware.onResponse = (res) => {
    for (const [name, value] of response) setResponseHeader(res, name, value);
  };
  return middleware;
};

/**
 * A response header edit as Traefik's headers middleware does it: a value replaces the header
 * (every line of it), an empty value removes it.
 */
export function setResponseHeader(response: ResponseHeaders, name: string, value: string): void {
  const lower = name.toLowerCase();
  const headers = response.headers;
  for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0].toLowerCase() === lower) headers.splice(i, 1);
  if (value !== '') headers.push([name, value]);
}
