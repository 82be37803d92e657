import type { Middleware, MiddlewareFactory } from './middleware.js';

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
  if (response.length) {
    middleware.onResponse = (res) => {
      for (const [name, value] of response) res.setHeader(name, value);
    };
  }
  return middleware;
};

