import type { MiddlewareFactory } from './middleware.js';
import { redirect, redirectStatus } from './url.js';

/** `redirectRegex`: a request whose URL (`scheme://host/path?query`) matches is redirected to the replacement. */
export const redirectRegex: MiddlewareFactory<'redirectRegex'> = ({ settings }) => {
  const regex = new RegExp(settings.regex);
  return {
    onRequest(request) {
      const url = `${request.client.tls ? 'https' : 'http'}://${request.host}${request.url}`;
      if (!regex.test(url)) return undefined;
      return redirect(redirectStatus(request.method, settings.permanent), url.replace(regex, settings.replacement));
    },
  };
};
