import type { Answer, MiddlewareFactory } from './middleware.js';

/**
 * `buffering`: the body is read whole before it is forwarded, so that the server never sees one
 * above `maxRequestBodyBytes`: a Content-Length above it is refused before a byte is read, a
 * chunked body as soon as its payload passes it. Either way: 413, and the connection closes.
 */
export const buffering: MiddlewareFactory<'buffering'> = ({ settings }) => {
  const max = settings.maxRequestBodyBytes;
  const tooLarge: Answer = { status: 413, headers: [], body: `413 Content Too Large: the request body is larger than ${max} bytes\n` };
  return {
    onRequest(request) {
      const length = request.client.contentLength;
      if (length === 0) return undefined;
      if (length > max) return tooLarge;
      return request.readBody(max).then((fits) => (fits ? undefined : tooLarge));
    },
  };
};
