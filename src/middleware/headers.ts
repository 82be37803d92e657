import { setEdit, type HeaderEdits } from '../proxy/http1/header-edits.js';
import type { Middleware, MiddlewareFactory } from './middleware.js';

/**
 * `headers`: sets request headers sent upstream and response headers sent back; an empty value
 * removes one. The response's are the same on every response: its chain merges them once.
 */
export const headers: MiddlewareFactory<'headers'> = ({ settings }) => {
  const request = [...(settings.customRequestHeaders ?? [])];
  const response = [...(settings.customResponseHeaders ?? [])];
  const onRequest: Middleware['onRequest'] = (req) => {
    for (const [name, value] of request) req.setHeader(name, value);
    return undefined;
  };
  return {
    ...(request.length ? { onRequest } : {}),
    ...(response.length ? { responseHeaderEdits: editsOf(response) } : {}),
  };
};

function editsOf(headers: ReadonlyArray<readonly [string, string]>): HeaderEdits {
  let edits: string[] | undefined;
  for (const [name, value] of headers) edits = setEdit(edits, name, value);
  return edits!;
}
