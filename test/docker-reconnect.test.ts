import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { parseConfig } from '../src/config/load.js';
import { startBalancer } from '../src/lb.js';
import { createLogger } from '../src/log.js';
import { lbYaml } from './helpers/config.js';
import { dockerConnected, DockerFixture, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';
import { DockerRelay } from './helpers/docker-relay.js';

test('when the Docker endpoint goes away lb keeps its pools, reconnects, and heals missed events', { timeout: 90_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const relay = new DockerRelay(t);
  await relay.open();
  const lb = await startDockerLb(t, fixture, `endpoint: "${relay.endpoint}"`);
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'a.example.com', port: '8080' }), env: { NAME: 'a' } });
  await eventually(async () => ((await fetchVia(lb, 'a.example.com')) === '200 a' ? true : undefined), 'a to serve');
  assert.equal(await dockerConnected(lb.url('admin')), 1);

  relay.cut();
  await eventually(async () => ((await dockerConnected(lb.url('admin'))) === 0 ? true : undefined), 'lb_docker_connected to drop to 0');
  assert.equal(await fetchVia(lb, 'a.example.com'), '200 a', 'the last known pool keeps serving');
  // A container that starts while lb is blind: only a resync after reconnecting can find it.
  await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'b.example.com', port: '8080' }), env: { NAME: 'b' } });
  // A fixed window on purpose: the events of b's start pass while lb is blind, and a keeps serving.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await fetchVia(lb, 'a.example.com'), '200 a');

  await relay.open();
  await eventually(async () => ((await fetchVia(lb, 'b.example.com')) === '200 b' ? true : undefined), 'b to serve after reconnecting', 40_000);
  assert.equal(await dockerConnected(lb.url('admin')), 1);
});

test('a 403 from a socket proxy names the permission to grant', { timeout: 60_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const relay = new DockerRelay(t);
  relay.forbidden = /^\/events/;
  await relay.open();
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString()); done(); } });
  const balancer = await startBalancer(
    parseConfig(lbYaml(`providers: { docker: { enabled: true, labelPrefix: "${fixture.prefix}", endpoint: "${relay.endpoint}" } }\n`), 'test.yaml'),
    createLogger('info', sink),
  );
  t.after(() => balancer.stop(100));
  const line = await eventually(() => lines.find((l) => l.includes('LB_DOCKER_FORBIDDEN')), 'the 403 to be logged');
  assert.match(line, /the Docker API refused GET \/events \(403\): allow read access to \/events in your socket proxy \(for tecnativa\/docker-socket-proxy: EVENTS=1\)/);
});
