import type { MiddlewareFactory } from './middleware.js';
import { splitTarget } from './url.js';

/**
 * `stripPrefix`: removes the first listed prefix the path starts with (a plain string prefix, as
 * Traefik and router matches read one) and says which in X-Forwarded-Prefix.
 */
export const stripPrefix: MiddlewareFactory<'stripPrefix'> = ({ settings }) => {
  const prefixes = settings.prefixes;
  return {
    onRequest(request) {
      const { path, query } = splitTarget(request.url);
      const prefix = prefixes.find((p) => path.startsWith(p));
      if (prefix === undefined) return undefined;
      const rest = path.slice(prefix.length);
      request.url = `${rest.startsWith('/') ? rest : `/${rest}`}${query}`;
      request.setHeader('X-Forwarded-Prefix', prefix);
      return undefined;
    },
  };
};
