import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { DockerFixture, dockerState, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

test('labels define weighted and mirroring services of container services, lb.yaml names them with @docker, and a bad one is a label error', { timeout: 120_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture, '', `
routers: { both: { entrypoint: web, match: { host: both.example.com }, service: both } }
services: { both: { weighted: { services: [ { name: app-v1@docker }, { name: app-v2@docker } ] } } }
`);
  await fixture.start({ name: 'v1', env: { NAME: 'v1' }, labels: fixture.labels({
    enable: 'true',
    'http.services.app-v1.port': '8080',
    'http.routers.app.host': 'app.example.com',
    'http.routers.app.service': 'app',
    'http.services.app.weighted.services': 'app-v1:3, app-v2:1',
    'http.services.app.weighted.sticky.cookie': 'lb_canary',
  }) });
  await fixture.start({ name: 'v2', env: { NAME: 'v2' }, labels: fixture.labels({
    enable: 'true',
    'http.services.app-v2.port': '8080',
    'http.routers.shadow.host': 'shadow.example.com',
    'http.routers.shadow.service': 'shadowed',
    'http.services.shadowed.mirroring.service': 'app-v1',
    'http.services.shadowed.mirroring.mirrors': 'app-v2:100',
  }) });
  await fixture.start({ name: 'bad', labels: fixture.labels({
    enable: 'true',
    port: '8080',
    'http.services.bad.weighted.services': 'app-v1:0',
    'http.services.mixed.weighted.services': 'app-v1',
    'http.services.mixed.port': '8080',
  }) });

  await eventually(async () => ((await fetchVia(lb, 'both.example.com')) === '200 v2' ? true : undefined), 'both containers serving through lb.yaml\'s weighted service');
  const served = [];
  for (let i = 0; i < 8; i++) {
    const res = await request(`${lb.url('web')}/`, { headers: { host: 'app.example.com' } });
    assert.match(String(res.headers['set-cookie']), /^lb_canary=/);
    served.push(await res.body.text());
  }
  assert.deepEqual(served.sort(), ['v1', 'v1', 'v1', 'v1', 'v1', 'v1', 'v2', 'v2'], 'the label weights, 3:1');

  for (let i = 0; i < 3; i++) assert.equal(await fetchVia(lb, 'shadow.example.com'), '200 v1');
  await eventually(async () => {
    const metrics = await (await request(`${lb.url('admin')}/metrics`)).body.text();
    return /^lb_mirrored_requests_total\{service="shadowed",mirror="app-v2",result="answered"\} 3$/m.test(metrics) || undefined;
  }, 'three copies answered by app-v2');

  const labelErrors = await eventually(async () => {
    const state = await dockerState(lb);
    return state.labelErrors.length === 2 ? state.labelErrors : undefined;
  }, 'the bad container\'s two label errors');
  assert.deepEqual(labelErrors.map((e) => `${e.container} ${e.label.slice(fixture.prefix.length)}: ${e.message}`).sort(), [
    `bad-${fixture.run} .http.services.bad.weighted.services: must be between 1 and 10000, got 0`,
    `bad-${fixture.run} .http.services.mixed.port: service "mixed" is weighted: it passes requests on to the services it names, so this container is no server of it; put this label on a service it names`,
  ]);
});
