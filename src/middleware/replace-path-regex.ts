import type { MiddlewareFactory } from './middleware.js';
import { splitTarget } from './url.js';

/** `replacePathRegex`: rewrites a path that matches; the original goes upstream in X-Replaced-Path, as Traefik sends it. */
export const replacePathRegex: MiddlewareFactory<'replacePathRegex'> = ({ settings }) => {
  const regex = new RegExp(settings.regex);
  const all = new RegExp(settings.regex, 'g');
  return {
    onRequest(request) {
      const { path, query } = splitTarget(request.url);
      if (!regex.test(path)) return undefined;
      const replaced = path.replace(all, settings.replacement);
      request.url = `${replaced.startsWith('/') ? replaced : `/${replaced}`}${query}`;
      request.setHeader('X-Replaced-Path', path);
      return undefined;
    },
  };
};
