import { headerEdit } from '../proxy/http1/header-edits.js';
import type { MiddlewareFactory } from './middleware.js';

/**
 * `stripPrefix`: removes the first listed prefix the path starts with (a plain string prefix, as
 * Traefik and router matches read one) and says which in X-Forwarded-Prefix.
 */
export const stripPrefix: MiddlewareFactory<'stripPrefix'> = ({ settings }) => {
  const prefixes = settings.prefixes.map((prefix) => ({ prefix, saying: headerEdit('X-Forwarded-Prefix', prefix) }));
  return {
    onRequest(request) {
      const url = request.url;
      const query = url.indexOf('?');
      const pathLength = query < 0 ? url.length : query;
      for (const { prefix, saying } of prefixes) {
        if (prefix.length > pathLength || !url.startsWith(prefix)) continue;
        // What follows the prefix: the rest of the path, then the query.
        const rest = url.slice(prefix.length);
        request.url = rest.startsWith('/') ? rest : `/${rest}`;
        request.setHeaderEdit(saying);
        return undefined;
      }
      return undefined;
    },
  };
};
