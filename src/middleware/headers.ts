import { headerEdit, withEdit, type HeaderEdit } from '../proxy/http1/header-edits.js';
import type { Middleware, MiddlewareFactory } from './middleware.js';

/**
 * `headers`: sets request headers sent upstream and response headers sent back; an empty value
 * removes one. Both are the same on every request, so their edits (lines included) are made here,
 * once; the response's are merged by the chain when it is compiled.
 */
export const headers: MiddlewareFactory<'headers'> = ({ settings }) => {
  const request = editsOf(settings.customRequestHeaders ?? []);
  const response = editsOf(settings.customResponseHeaders ?? []);
  const onRequest: Middleware['onRequest'] = (req) => {
    for (let i = 0; i < request.length; i++) req.setHeaderEdit(request[i]!);
    return undefined;
  };
  return {
    ...(request.length ? { onRequest } : {}),
    ...(response.length ? { responseHeaderEdits: response } : {}),
  };
};

function editsOf(headers: Iterable<readonly [string, string]>): HeaderEdit[] {
  let edits: HeaderEdit[] = [];
  for (const [name, value] of headers) edits = withEdit(edits, headerEdit(name, value));
  return edits;
}
