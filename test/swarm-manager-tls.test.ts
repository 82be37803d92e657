import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { createService, inProcessSwarmLb, startSwarmLb, swarmFor, swarmLbYaml, swarmState } from './helpers/swarm.js';
import { CertificateFolder } from './helpers/tls.js';
import { eventually } from './helpers/wait.js';

// An lb on a worker node that reads the manager's TCP API with TLS (providers.swarm.endpoint
// tcp://manager:2376 with tls: { caFile, certFile, keyFile }): the manager's dockerd listens with
// --tlsverify, certificates made by openssl here. lb routes to the tasks; a wrong CA, a missing
// client certificate and one from another CA each give LB_DOCKER_TLS, which says what is wrong,
// within seconds (no hang).

test("the Swarm provider on a manager's TCP API with TLS: client certificates, and clear errors when they are wrong", { timeout: 300_000 }, async (t) => {
  if (!CertificateFolder.available(t)) return;
  const certs = new CertificateFolder(t);
  const ca = certs.ca('lb swarm test CA');
  const client = certs.certificate({ names: ['lb'], ca, usage: 'clientAuth' });
  const swarm = await swarmFor(t, {
    daemonArgs: (node, address) => {
      if (node !== 1) return [];
      const server = certs.certificate({ names: [address], ca });
      return ['-H', `tcp://${address}:2376`, '--tlsverify', '--tlscacert', ca.certFile, '--tlscert', server.certFile, '--tlskey', server.keyFile];
    },
  });
  if (!swarm) return;
  const endpoint = `tcp://${swarm.address(1)}:2376`;
  const tlsOf = (files: { caFile: string; certFile?: string; keyFile?: string }) => `{ ${Object.entries(files).map(([k, v]) => `${k}: "${v}"`).join(', ')} }`;

  await t.test('lb in a container on a worker reads the manager over TLS with its client certificate, and routes to the tasks', async () => {
    const files = { 'ca.pem': ca.cert, 'client.pem': client.cert, 'client-key.pem': client.key };
    const yaml = swarmLbYaml(`tls: ${tlsOf({ caFile: '/cfg/ca.pem', certFile: '/cfg/client.pem', keyFile: '/cfg/client-key.pem' })}`, '', endpoint);
    const lb = await startSwarmLb(swarm, { yaml, networks: [swarm.overlay], node: 2, files });
    await createService(swarm, 'web', { labels: { 'lb.enable': 'true', 'lb.host': 'web.test', 'lb.port': '8080' } });
    const seen = await eventually(async () => {
      const nodes = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await request(lb.url, { headers: { host: 'web.test' } });
        const body = await res.body.text();
        if (res.statusCode === 200) nodes.add(body.split('-')[0]!);
      }
      return nodes.size === 3 ? nodes : undefined;
    }, 'the three tasks to answer through lb', 90_000);
    assert.deepEqual([...seen].sort(), ['node1', 'node2', 'node3']);
    assert.equal((await swarmState(lb)).connected, true);
    assert.match(await lb.logs(), new RegExp(`"endpoint":"${endpoint}".*connected to the swarm manager`));
  });

  const refused = async (st: TestContext, tls: string, what: RegExp) => {
    const started = Date.now();
    const lines = await inProcessSwarmLb(st, `endpoint: "${endpoint}", tls: ${tls}`);
    const line = await eventually(() => lines.find((l) => l.includes('LB_DOCKER_TLS')), 'LB_DOCKER_TLS to be logged', 10_000);
    st.diagnostic(`${Date.now() - started} ms: ${JSON.parse(line).msg}`);
    assert.match(line, what);
    assert.ok(!lines.some((l) => l.includes('connected to the swarm manager')));
  };

  await t.test('a caFile that did not sign the manager certificate: LB_DOCKER_TLS names caFile', async (st) => {
    const other = certs.ca('some other CA');
    await refused(st, tlsOf({ caFile: other.certFile, certFile: client.certFile, keyFile: client.keyFile }), new RegExp(`TLS with the Docker API at ${endpoint} failed: its certificate is not signed by the CA of providers\\.swarm\\.tls\\.caFile`));
  });

  await t.test('no client certificate: LB_DOCKER_TLS says the manager requires one', async (st) => {
    await refused(st, tlsOf({ caFile: ca.certFile }), /failed: it requires a client certificate.*set providers\.swarm\.tls\.certFile and keyFile/);
  });

  await t.test('a client certificate from another CA: LB_DOCKER_TLS says the manager refused it', async (st) => {
    const other = certs.ca('a CA the manager does not trust');
    const stranger = certs.certificate({ names: ['lb'], ca: other, usage: 'clientAuth' });
    await refused(st, tlsOf({ caFile: ca.certFile, certFile: stranger.certFile, keyFile: stranger.keyFile }), /failed: it refused lb's client certificate/);
  });
});
