import assert from 'node:assert/strict';
import { test } from 'node:test';
import { docker, DockerFixture, eventually, fetchVia, requireDocker, startDockerLb } from './helpers/docker.js';
import { DockerRelay } from './helpers/docker-relay.js';

// lb only reads the Docker API: through every stage of a container's life (start, health, a
// network joined, stop), each request that reaches the socket is a GET, to the read endpoints.

test('lb sends the Docker socket only GET requests, to read-only endpoints', { timeout: 90_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const fixture = new DockerFixture(t);
  const relay = new DockerRelay(t);
  await relay.open();
  const lb = await startDockerLb(t, fixture, `endpoint: "${relay.endpoint}"`);
  const network = await fixture.network('ro');
  const id = await fixture.start({ labels: fixture.labels({ enable: 'true', host: 'ro.example.com', port: '8080' }), env: { NAME: 'ro' } });
  await eventually(async () => ((await fetchVia(lb, 'ro.example.com')) === '200 ro' ? true : undefined), 'the container to serve');
  await docker('network', 'connect', network, id);
  await docker('stop', '-t', '2', id);
  await eventually(async () => ((await fetchVia(lb, 'ro.example.com')).startsWith('503') ? true : undefined), 'the stopped container to leave its pool');

  assert.ok(relay.requests.length >= 3, `lb made ${relay.requests.length} requests`);
  const writes = relay.requests.filter((r) => r.method !== 'GET');
  assert.deepEqual(writes, [], 'no request but GET');
  const paths = new Set(relay.requests.map((r) => r.path.split('?')[0]!.replace(/\/containers\/[0-9a-f]{12,64}\/json$/, '/containers/ID/json')));
  const readOnly = new Set(['/_ping', '/version', '/info', '/events', '/containers/json', '/containers/ID/json', '/networks', '/networks/json']);
  assert.deepEqual([...paths].filter((p) => !readOnly.has(p) && !/^\/networks\/[\w.-]+$/.test(p) && !/^\/containers\/[\w.-]+\/json$/.test(p)), [], `paths lb read: ${[...paths].join(', ')}`);
});
