import type { MiddlewareFactory } from './middleware.js';
import { hostWithoutPort, redirect, redirectStatus } from './url.js';

const defaultPorts = { http: 80, https: 443 } as const;

/** `redirectScheme`: a request that came over the other scheme is sent to `scheme://host[:port]/path`. */
export const redirectScheme: MiddlewareFactory<'redirectScheme'> = ({ settings }) => {
  const { scheme, permanent } = settings;
  const port = settings.port ?? defaultPorts[scheme];
  const portPart = port === defaultPorts[scheme] ? '' : `:${port}`;
  return {
    onRequest(request) {
      const current = request.client.tls ? 'https' : 'http';
      if (current === scheme) return undefined;
      const host = hostWithoutPort(request.host);
      if (!host) return { status: 400, headers: [], body: `a redirect to ${scheme} needs the Host header\n` };
      return redirect(redirectStatus(request.method, permanent), `${scheme}://${host}${portPart}${request.url}`);
    },
  };
};
