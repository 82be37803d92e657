// Middlewares of every type, defined and applied by labels on real containers: the short form
// (lb.middlewares) and a named router (lb.http.routers.R.middlewares), a middleware of the
// containers named from lb.yaml (name@docker) and one of lb.yaml named from a label
// (name@file), and a bad middleware label that leaves only its container out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { DockerFixture, dockerState, eventually, requireDocker, startDockerLb } from './helpers/docker.js';
import { echoBackend, type Echoed } from './helpers/middleware.js';

/** A bcrypt entry made by Debian's htpasswd -nbB ops pw-ops. */
const opsUser = 'ops:$2y$05$szIK96Vf0EBBY7LI6Sp6UuKQslIQhV4nOlgont75kWTKRRJKOkI6q';

test('middlewares of every type set by container labels', { timeout: 120_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const local = await echoBackend(t);
  const lb = await startDockerLb(t, fixture, '', `
middlewares: { stamp: { headers: { customRequestHeaders: { X-Stamp: file } } } }
routers: { local: { entrypoint: web, service: local, match: { host: local.test }, middlewares: [secure@docker] } }
services: { local: { servers: [ { url: "${local.url}" } ] } }
`);
  const m = (name: string, key: string, value: string) => ({ [`http.middlewares.${name}.${key}`]: value });
  await fixture.start({
    name: 'alpha',
    env: { ECHO: '1', NAME: 'alpha' },
    labels: fixture.labels({
      enable: 'true', host: 'alpha.test', port: '8080', middlewares: 'office,strip,rewrite,secure',
      ...m('office', 'ipAllowList.sourceRange', '127.0.0.0/8,10.0.0.0/8'),
      ...m('strip', 'stripPrefix.prefixes', '/api'),
      ...m('rewrite', 'replacePathRegex.regex', '^/old/(.*)'),
      ...m('rewrite', 'replacePathRegex.replacement', '/new/$1'),
      ...m('secure', 'headers.customRequestHeaders.X-Env', 'prod'),
      ...m('secure', 'headers.customResponseHeaders', 'X-Frame-Options=DENY,X-Powered-By='),
    }),
  });
  await fixture.start({
    name: 'beta',
    env: { ECHO: '1', NAME: 'beta' },
    labels: fixture.labels({
      enable: 'true', port: '8080', 'http.routers.beta.host': 'beta.test', 'http.routers.beta.middlewares': 'auth,small,stamp@file',
      ...m('auth', 'basicAuth.users', opsUser),
      ...m('auth', 'basicAuth.realm', 'beta'),
      ...m('small', 'buffering.maxRequestBodyBytes', '10'),
    }),
  });
  await fixture.start({
    name: 'gamma',
    labels: fixture.labels({
      enable: 'true', host: 'gamma.test', port: '8080', middlewares: 'moved,to-https',
      ...m('moved', 'redirectRegex.regex', '^http://gamma\\.test/docs/(.*)'),
      ...m('moved', 'redirectRegex.replacement', 'https://docs.test/$1'),
      ...m('to-https', 'redirectScheme.scheme', 'https'),
      ...m('to-https', 'redirectScheme.port', '8443'),
      ...m('to-https', 'redirectScheme.permanent', 'true'),
    }),
  });
  await fixture.start({ name: 'bad', labels: fixture.labels({ enable: 'true', host: 'bad.test', port: '8080', middlewares: 'oops', ...m('oops', 'stripPrefix.prefixes', 'api') }) });

  const web = lb.url('web');
  const get = async (host: string, path = '/', headers: Record<string, string> = {}, body?: string) => {
    const res = await request(`${web}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { host, ...headers }, ...(body === undefined ? {} : { body }) });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  const alpha = await eventually(async () => {
    const res = await get('alpha.test', '/api/old/x?q=1');
    return res.status === 200 ? res : undefined;
  }, 'the alpha container to serve through its middlewares', 60_000);
  const seen = JSON.parse(alpha.text) as Echoed;
  assert.equal(seen.url, '/new/x?q=1');
  assert.equal(seen.headers['x-forwarded-prefix'], '/api');
  assert.equal(seen.headers['x-replaced-path'], '/old/x');
  assert.equal(seen.headers['x-env'], 'prod');
  assert.equal(alpha.headers['x-frame-options'], 'DENY');

  const basic = `Basic ${Buffer.from('ops:pw-ops').toString('base64')}`;
  const denied = await eventually(async () => {
    const res = await get('beta.test');
    return res.status === 401 ? res : undefined;
  }, 'the beta container to ask for credentials', 60_000);
  assert.equal(denied.headers['www-authenticate'], 'Basic realm="beta"');
  const beta = await get('beta.test', '/', { authorization: basic });
  assert.equal(beta.status, 200);
  assert.equal((JSON.parse(beta.text) as Echoed).headers.authorization, undefined);
  assert.equal((JSON.parse(beta.text) as Echoed).headers['x-stamp'], 'file', "a container's router names a middleware of lb.yaml (name@file)");
  assert.equal((await get('beta.test', '/', { authorization: basic }, 'more than ten bytes')).status, 413);
  assert.equal((await get('beta.test', '/', { authorization: basic }, 'ten bytes!')).status, 200);

  const docs = await eventually(async () => {
    const res = await get('gamma.test', '/docs/intro');
    return res.status === 302 ? res : undefined;
  }, 'the gamma container to redirect', 60_000);
  assert.equal(docs.headers.location, 'https://docs.test/intro');
  const other = await get('gamma.test', '/x');
  assert.equal(other.status, 301);
  assert.equal(other.headers.location, 'https://gamma.test:8443/x');

  // lb.yaml's router names a middleware that a container defines.
  const fromYaml = await get('local.test');
  assert.equal(fromYaml.headers['x-frame-options'], 'DENY');
  assert.equal((JSON.parse(fromYaml.text) as Echoed).headers['x-env'], 'prod');

  const state = await dockerState(lb);
  assert.deepEqual(state.labelErrors.filter((e) => e.container === `bad-${fixture.run}`).map(({ label, message }) => ({ label, message })), [{ label: `${fixture.prefix}.http.middlewares.oops.stripPrefix.prefixes`, message: 'a prefix starts with "/", got "api"' }]);
  assert.equal((await get('bad.test')).status, 404, 'the container with the bad label is left out');
});
