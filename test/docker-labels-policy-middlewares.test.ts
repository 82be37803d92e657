// rateLimit, inFlightReq, compress and forwardAuth defined and applied by labels on real
// containers: each label names a key of the same schema as lb.yaml, and acts as it does there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { DockerFixture, eventually, requireDocker, startDockerLb } from './helpers/docker.js';
import { startBackend } from './helpers/servers.js';

test('rateLimit, inFlightReq, compress and forwardAuth set by container labels', { timeout: 120_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const auth = await startBackend(t, (req, res) => {
    res.writeHead(req.headers.authorization === 'Bearer ok' ? 204 : 401, { 'x-user': 'alice' });
    res.end();
  });
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  const m = (name: string, key: string, value: string) => ({ [`http.middlewares.${name}.${key}`]: value });
  await fixture.start({
    name: 'api',
    env: { ECHO: '1', NAME: 'api' },
    labels: fixture.labels({
      enable: 'true', host: 'api.test', port: '8080', middlewares: 'sso,limit,squeeze',
      ...m('sso', 'forwardAuth.address', `${auth.url}/verify`),
      ...m('sso', 'forwardAuth.authResponseHeaders', 'X-User'),
      ...m('sso', 'forwardAuth.timeout', '2s'),
      ...m('limit', 'rateLimit.average', '1'),
      ...m('limit', 'rateLimit.period', '1h'),
      ...m('limit', 'rateLimit.burst', '3'),
      ...m('limit', 'rateLimit.sourceCriterion.requestHeaderName', 'X-Api-Key'),
      ...m('squeeze', 'compress.encodings', 'gzip'),
      ...m('squeeze', 'compress.minResponseBodyBytes', '16'),
    }),
  });
  await fixture.start({
    name: 'one',
    labels: fixture.labels({ enable: 'true', host: 'one.test', port: '8080', middlewares: 'single', ...m('single', 'inFlightReq.amount', '1') }),
  });

  const web = lb.url('web');
  const get = async (host: string, path = '/', headers: Record<string, string> = {}) => {
    const res = await request(`${web}${path}`, { headers: { host, ...headers } });
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  };
  const key = (n: number) => ({ authorization: 'Bearer ok', 'x-api-key': `key-${n}`, 'accept-encoding': 'gzip' });
  const first = await eventually(async () => {
    const res = await get('api.test', '/', key(0));
    return res.status === 200 ? res : undefined;
  }, 'the api container to serve through its middlewares', 60_000);
  assert.equal(first.headers['content-encoding'], 'gzip');
  const seen = JSON.parse(gunzipSync(first.body).toString()) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-user'], 'alice', 'forwardAuth copied X-User');
  assert.equal((await get('api.test', '/', { 'x-api-key': 'key-1' })).status, 401, 'forwardAuth refuses without the token');

  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await get('api.test', '/', key(2))).status);
  assert.deepEqual(statuses, [200, 200, 200, 429], 'the rate limit of key-2 is 3');
  assert.equal((await get('api.test', '/', key(3))).status, 200, 'another key has its own bucket');

  await eventually(async () => (await get('one.test')).status === 200, 'the one container to serve', 60_000);
  const slow = get('one.test', '/slow');
  await eventually(async () => (await get('one.test')).status === 429, 'a second request to be refused while /slow is in flight');
  assert.equal((await slow).status, 200);
  assert.equal((await get('one.test')).status, 200, 'the slot came back');
});
