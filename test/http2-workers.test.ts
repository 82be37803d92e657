// HTTP/2 with `workers: 2`: clients that chose h2 by ALPN on an https entrypoint and clients that
// speak h2c with prior knowledge are served by both workers (connections dealt in turn), gRPC
// calls reach an h2c:// server through them, and the primary's /metrics sums what each counted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type ClientHttp2Session } from 'node:http2';
import { test, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { lbYaml } from './helpers/config.js';
import { EchoClient, startGrpcServer, type EchoClientType, type Message } from './helpers/grpc-echo.js';
import { h2Request } from './helpers/h2-clients.js';
import { connectionOwner, spawnLb, workerPids } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry } from './helpers/tls.js';

const SESSIONS = 6;
const REQUESTS = 3;

async function openSession(t: TestContext, origin: string): Promise<ClientHttp2Session> {
  const session = connect(origin, { servername: 'app.test', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  await once(session, 'connect');
  return session;
}

/** The sum of lb_http_requests_total over the series of one entrypoint with status 200. */
function answered(metrics: string, entrypoint: string): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('lb_http_requests_total{') && line.includes(`entrypoint="${entrypoint}"`) && line.includes('code="200"')) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

test('workers: 2 serve h2 over https (ALPN) and h2c with prior knowledge on both workers, gRPC included, and sum the metrics', { timeout: 90_000 }, async (t) => {
  if (!CertificateFolder.available(t)) return;
  if (process.platform !== 'linux') return t.skip('reads /proc to tell which worker took a connection');
  const cert = new CertificateFolder(t).certificate({ names: ['app.test'] });
  const backend = await namedBackend(t, 'app');
  const grpcServer = await startGrpcServer();
  t.after(() => grpcServer.server.forceShutdown());
  const lb = await spawnLb(t, `workers: 2
${lbYaml(`
routers:
  plain: { entrypoint: web, service: app }
  secure: { entrypoint: websecure, service: app }
  grpc: { entrypoint: web, match: { pathPrefix: /lb.test.Echo/ }, service: echo }
services:
  app: { servers: [ { url: "${backend.url}" } ] }
  echo: { servers: [ { url: "h2c://127.0.0.1:${grpcServer.port}" } ] }
`, { web: 'http2: { cleartext: true }', entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(cert)} ] }` } })}`, [], { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr' });
  const workers = workerPids(lb);
  assert.equal(workers.length, 2);

  for (const [entrypoint, scheme] of [['web', 'http'], ['websecure', 'https']] as const) {
    const port = lb.port(entrypoint);
    const servedBy = new Set<number>();
    for (let i = 0; i < SESSIONS; i++) {
      const session = await openSession(t, `${scheme}://127.0.0.1:${port}`);
      if (scheme === 'https') assert.equal((session.socket as unknown as { alpnProtocol: string }).alpnProtocol, 'h2');
      for (let r = 0; r < REQUESTS; r++) {
        const res = await h2Request(session, { ':path': `/${i}/${r}`, ':authority': 'app.test' });
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'app');
      }
      const owner = connectionOwner(workers, port, session.socket.localPort!);
      if (owner) servedBy.add(owner);
      session.destroy();
    }
    assert.deepEqual([...servedBy].sort(), [...workers].sort(), `${entrypoint}: both workers served HTTP/2 sessions`);
  }

  const calls = 4;
  for (let i = 0; i < calls; i++) {
    const client = new EchoClient(`127.0.0.1:${lb.port('web')}`, grpc.credentials.createInsecure()) as EchoClientType;
    const reply = await new Promise<Message>((resolve, reject) => (client.unary as (m: Message, cb: (e: grpc.ServiceError | null, r?: Message) => void) => void)({ text: `c${i}` }, (e, r) => (e ? reject(e) : resolve(r!))));
    client.close();
    assert.equal(reply.text, `echo c${i}`);
  }

  const metrics = await (await fetch(`http://127.0.0.1:${lb.port('admin')}/metrics`)).text();
  assert.equal(answered(metrics, 'websecure'), SESSIONS * REQUESTS, 'both workers\' counts, summed');
  assert.equal(answered(metrics, 'web'), SESSIONS * REQUESTS + calls);
});
