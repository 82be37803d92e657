// tls-alpn-01 against a real pebble. The https entrypoint is not part of this branch yet, so the
// test's own TLS server stands in for it: it reads the ClientHello's raw bytes, asks lb's
// responder (AcmeChallenges.tlsAlpn01Context) for the challenge certificate, and completes the
// handshake with it; pebble connects there (its tlsPort) and checks the acmeIdentifier extension.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, TLSSocket } from 'node:tls';
import { parseConfig } from '../src/config/load.js';
import { buildSnapshot } from '../src/control/snapshot.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics/metrics.js';
import { readClientHello } from '../src/tls/client-hello.js';
import { closedPort } from './helpers/servers.js';
import { acmeTlsAlpnProtocol, AcmeChallenges } from '../src/tls/acme/challenges.js';
import { AcmeManager } from '../src/tls/acme/manager.js';
import type { IssuedCertificate } from '../src/tls/acme/storage.js';
import { acmeLbYaml, startPebble } from './helpers/pebble.js';
import { eventually } from './helpers/wait.js';

/** A TLS port that answers only tls-alpn-01 challenges, with lb's responder. */
async function challengeServer(t: import('node:test').TestContext, challenges: AcmeChallenges) {
  const handshakes: string[] = [];
  const server = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (readClientHello(bytes).status === 'incomplete') return;
      socket.off('data', onData);
      const context = challenges.tlsAlpn01Context(bytes);
      if (!context) {
        handshakes.push('refused');
        return void socket.destroy();
      }
      socket.pause();
      socket.unshift(bytes);
      const tls = new TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: [acmeTlsAlpnProtocol] });
      tls.on('error', () => undefined);
      tls.on('secure', () => {
        handshakes.push(`answered ${tls.alpnProtocol}`);
        tls.end();
      });
    };
    socket.on('data', onData);
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, handshakes };
}

test('tls-alpn-01: the challenge certificate from the responder is accepted by pebble', async (t) => {
  const challenges = new AcmeChallenges();
  const responder = await challengeServer(t, challenges);
  const pebble = await startPebble(t, { httpPort: await closedPort(), tlsPort: responder.port });
  if (!pebble) return;
  const storage = mkdtempSync(join(tmpdir(), 'lb-acme-'));
  const config = parseConfig(acmeLbYaml(pebble, { webPort: await closedPort(), storage, hosts: ['alpn.example.com'], challenge: 'tls-alpn-01' }), 'test.yaml');
  const issued = new Map<string, IssuedCertificate>();
  let offered: string | undefined;
  const manager = new AcmeManager(config.acme, {
    onCertificate: (host, certificate) => issued.set(host, certificate),
    onChallenges: async (set) => {
      challenges.replace(set);
      if (set.tlsAlpn01.length) offered = set.tlsAlpn01[0]![0];
    },
  }, new Metrics(), createLogger('silent'));
  t.after(() => manager.stop());
  manager.sync(buildSnapshot(config.entrypoints, config, undefined));

  const certificate = await eventually(() => issued.get('alpn.example.com'), 'a certificate over tls-alpn-01', 60_000);
  assert.ok(certificate.certPem.includes('BEGIN CERTIFICATE'));
  assert.equal(offered, 'alpn.example.com');
  assert.ok(responder.handshakes.includes(`answered ${acmeTlsAlpnProtocol}`), `pebble completed a handshake with acme-tls/1 (${responder.handshakes.join(', ')})`);
  assert.equal(challenges.size, 0, 'the challenge is withdrawn once the order is done');

  // Without acme-tls/1 in the ClientHello the responder leaves the connection alone (here: closed).
  challenges.replace({ http01: [], tlsAlpn01: [] });
  const client = connect({ port: responder.port, host: '127.0.0.1', servername: 'alpn.example.com', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('close', resolve));
  assert.equal(responder.handshakes.at(-1), 'refused');
});
