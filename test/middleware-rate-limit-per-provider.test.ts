// rateLimit buckets belong to the middleware as qualified by its provider: `api@file` and
// `api@docker` are two middlewares (Traefik's naming), so their requests never count against
// each other's buckets, even when their settings are the same.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MiddlewareConfig } from '../src/config/types.js';
import { ProxyError } from '../src/errors.js';
import { compileMiddlewares } from '../src/middleware/chain.js';
import type { Middleware, MiddlewareRequest } from '../src/middleware/middleware.js';

const config: MiddlewareConfig = { name: 'api', type: 'rateLimit', settings: { average: 1, period: 3_600_000, burst: 2 } } as MiddlewareConfig;
const request = { client: { clientIp: '192.0.2.9' }, trusts: () => false } as unknown as MiddlewareRequest;

/** Whether the middleware admits one more request of the client above. */
function admits(onRequest: Middleware['onRequest']): boolean {
  try {
    onRequest!(request);
    return true;
  } catch (err) {
    assert.ok(err instanceof ProxyError && err.kind === 'rate_limited', String(err));
    return false;
  }
}

test('api@file and api@docker count in buckets of their own', { timeout: 10_000 }, () => {
  const compiled = compileMiddlewares(new Map([['api@file', config], ['api@docker', { ...config }]]), undefined);
  const fromFile = compiled.get('api@file')!.middleware.onRequest;
  const fromDocker = compiled.get('api@docker')!.middleware.onRequest;
  assert.deepEqual([admits(fromFile), admits(fromFile), admits(fromFile)], [true, true, false], 'the burst of api@file is spent');
  assert.deepEqual([admits(fromDocker), admits(fromDocker), admits(fromDocker)], [true, true, false], 'api@docker has its own burst');
});
