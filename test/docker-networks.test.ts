import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closedPort } from './helpers/servers.js';
import { docker, DockerFixture, dockerState, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';

test('a container on a user network is reached on that network', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const net = await fixture.network('front');
  const lb = await startDockerLb(t, fixture);
  const id = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'user.example.com', port: '8080' }), env: { NAME: 'on-user-net' }, args: ['--network', net] });
  assert.equal(await eventually(async () => ((await fetchVia(lb, 'user.example.com')) === '200 on-user-net' ? 'ok' : undefined), 'routing'), 'ok');
  const state = await dockerState(lb);
  const entry = state.containers.find((c) => id.startsWith(c.id))!;
  assert.equal(entry.services[0]!.network, net);
  assert.equal(entry.services[0]!.address, `${await fixture.ip(id, net)}:8080`);
});

test('a container on two networks needs lb.network, and then uses exactly that one', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const [front, back] = [await fixture.network('front'), await fixture.network('back')];
  const lb = await startDockerLb(t, fixture);
  const ambiguous = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'two.example.com', port: '8080' }), args: ['--network', front] });
  const chosen = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'chosen.example.com', port: '8080', network: back }), env: { NAME: 'chosen' }, args: ['--network', front] });
  await docker('network', 'connect', back, ambiguous);
  await docker('network', 'connect', back, chosen);

  const reasonOf = async (id: string) => (await dockerState(lb)).containers.find((c) => id.startsWith(c.id));
  const left = await eventually(async () => {
    const entry = await reasonOf(ambiguous);
    return entry && !entry.inPool && entry.reason?.includes('set') ? entry : undefined;
  }, 'the two-network container to be left out');
  assert.match(left.reason!, new RegExp(`on networks (${back}, ${front}|${front}, ${back}) and none was chosen; set ${fixture.prefix}\\.network`));
  assert.match(await fetchVia(lb, 'two.example.com'), /^503 /, 'the route stays and answers 503, not 404');

  const backIp = await fixture.ip(chosen, back);
  await eventually(async () => ((await reasonOf(chosen))?.services[0]?.address === `${backIp}:8080` ? true : undefined), 'the chosen network address');
  assert.equal(await fetchVia(lb, 'chosen.example.com'), '200 chosen');
});

test('--network host uses hostAddress and the port label', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const port = await closedPort();
  const lb = await startDockerLb(t, fixture, 'hostAddress: "127.0.0.1"');
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'host.example.com', port: String(port) }), env: { NAME: 'host-mode', PORT: String(port), HOST: '127.0.0.1' }, args: ['--network', 'host'] });
  assert.equal(await eventually(async () => ((await fetchVia(lb, 'host.example.com')) === '200 host-mode' ? 'ok' : undefined), 'host-mode routing'), 'ok');
});

test('--network container:<id> uses the target container network; none is unroutable', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const lb = await startDockerLb(t, fixture);
  // The target holds the namespace and serves nothing; the sidecar listens on 8081 inside it.
  const target = await fixture.start({ command: ['/usr/bin/sleep', 'infinity'] });
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'side.example.com', port: '8081' }), env: { NAME: 'sidecar', PORT: '8081' }, args: ['--network', `container:${target}`] });
  assert.equal(await eventually(async () => ((await fetchVia(lb, 'side.example.com')) === '200 sidecar' ? 'ok' : undefined), 'sidecar routing'), 'ok');

  const none = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'none.example.com', port: '8080' }), args: ['--network', 'none'] });
  // lb may first see it between create and start ("not running"); `docker run -d` has started it.
  const entry = await eventually(async () => (await dockerState(lb)).containers.find((c) => none.startsWith(c.id) && c.reason !== 'not running'), 'the none container to be seen running');
  assert.equal(entry.inPool, false);
  assert.match(entry.reason!, /network_mode none/);
  assert.match(await fetchVia(lb, 'none.example.com'), /^503 /);
});

test('a published port is used with useBindPort', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const hostPort = await closedPort();
  const lb = await startDockerLb(t, fixture, 'useBindPort: true, hostAddress: "127.0.0.1"');
  // On the bridge plus a second network, no rule before 8 chooses: the published port does.
  const extra = await fixture.network('extra');
  const id = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'pub.example.com', port: '8080' }), env: { NAME: 'published' }, args: ['-p', `127.0.0.1:${hostPort}:8080`] });
  await docker('network', 'connect', extra, id);
  const entry = await eventually(async () => {
    const found = (await dockerState(lb)).containers.find((c) => id.startsWith(c.id));
    return found?.services[0]?.network === 'published' ? found : undefined;
  }, 'the published address');
  assert.equal(entry.services[0]!.address, `127.0.0.1:${hostPort}`);
  // docker-proxy accepts on the published port at once, and resets the connection while node in
  // the container is not yet listening (a busy machine takes seconds): ask until it answers.
  assert.equal(await eventually(async () => {
    const answer = await fetchVia(lb, 'pub.example.com');
    return answer.startsWith('502 ') ? undefined : answer;
  }, 'the published backend to answer', 20_000), '200 published');
});
