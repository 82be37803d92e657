// Every middleware type, by its key in lb.yaml (config/schema.ts, `middlewareTypes`). A new
// type: its settings in schema.ts, a file here with its factory, a line below, docs/middlewares.md.
import type { MiddlewareType } from '../config/schema.js';
import type { MiddlewareConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { basicAuth } from './basic-auth.js';
import { buffering } from './buffering.js';
import { compress } from './compress.js';
import { forwardAuth } from './forward-auth.js';
import { inFlightReq } from './in-flight-req.js';
import { rateLimit } from './rate-limit.js';
import { headers } from './headers.js';
import { ipAllowList } from './ip-allow-list.js';
import type { Middleware, MiddlewareFactory } from './middleware.js';
import { redirectRegex } from './redirect-regex.js';
import { redirectScheme } from './redirect-scheme.js';
import { replacePathRegex } from './replace-path-regex.js';
import { stripPrefix } from './strip-prefix.js';

const factories: { [K in MiddlewareType]: MiddlewareFactory<K> } = {
  headers,
  stripPrefix,
  replacePathRegex,
  redirectScheme,
  redirectRegex,
  ipAllowList,
  buffering,
  basicAuth,
  rateLimit,
  inFlightReq,
  compress,
  forwardAuth,
};

export function createMiddleware(config: MiddlewareConfig, logger: Logger | undefined): Middleware {
  return (factories[config.type] as MiddlewareFactory<typeof config.type>)(config as never, logger);
}
