// Session resumption: tickets are encrypted with keys the control plane makes and rotates, and
// every process serves with the same keys, so that with `workers: 2` a session made on one
// worker resumes on the other. After a rotation the previous key still decrypts.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { connectionOwner, spawnLb, workerPids } from './helpers/lb-process.js';
import { namedBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry, requestOn, tlsConnect, tlsRequest } from './helpers/tls.js';

async function config(t: TestContext, top = '') {
  const certs = new CertificateFolder(t);
  const one = certs.certificate({ names: ['one.test'] });
  const two = certs.certificate({ type: 'rsa', names: ['two.test'] });
  const backend = await namedBackend(t, 'resumed');
  return lbYaml(`${top}
routers: { all: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(one)}, ${certEntry(two)} ] }` } });
}

/** A new connection that waits for its session ticket (TLS 1.3 sends it after the handshake). */
async function sessionFrom(port: number, servername: string, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<Buffer> {
  const socket = await tlsConnect({ port, servername, maxVersion });
  await requestOn(socket, '/', servername);
  const ticket = await socket.ticket;
  socket.destroy();
  return ticket;
}

test('a session resumes after one ticket key rotation, not after two', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const lb = await startLb(t, await config(t));
  const port = lb.port('websecure');
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const servername of ['one.test', 'two.test']) {
      const session = await sessionFrom(port, servername, maxVersion);
      assert.equal((await tlsRequest({ port, servername, maxVersion, session })).reused, true, `${servername} ${maxVersion}: resumed`);
      lb.certificates.rotateTicketKeys();
      const afterOne = await tlsRequest({ port, servername, maxVersion, session });
      assert.equal(afterOne.reused, true, `${servername} ${maxVersion}: the previous key still decrypts`);
      lb.certificates.rotateTicketKeys();
      assert.equal((await tlsRequest({ port, servername, maxVersion, session })).reused, false, `${servername} ${maxVersion}: two rotations later, a full handshake`);
    }
  }
  assert.equal(lb.certificates.tls.ticketKeys.length, 2, 'the current key and the previous one');
});

test('workers: 2 share the ticket keys: a session made on one worker resumes on the other', async (t) => {
  if (!CertificateFolder.available(t)) return;
  if (process.platform !== 'linux') return t.skip('reads /proc to tell which worker took a connection');
  const lb = await spawnLb(t, await config(t, 'workers: 2'));
  const port = lb.port('websecure');
  const workers = workerPids(lb);
  assert.equal(workers.length, 2);
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const first = await tlsConnect({ port, servername: 'two.test', maxVersion });
    await requestOn(first, '/', 'two.test');
    const madeBy = connectionOwner(workers, port, first.localPort!);
    const session = await first.ticket;
    first.destroy();
    assert.ok(madeBy, 'found the worker of the first connection');
    const resumedOn = new Set<number>();
    for (let i = 0; i < 80 && !(resumedOn.has(workers[0]!) && resumedOn.has(workers[1]!)); i++) {
      const socket = await tlsConnect({ port, servername: 'two.test', maxVersion, session });
      const worker = connectionOwner(workers, port, socket.localPort!);
      assert.equal(socket.isSessionReused(), true, `connection ${i} (worker ${worker}, ticket from ${madeBy}) resumed`);
      assert.equal((await requestOn(socket, '/', 'two.test')).body, 'resumed');
      if (worker) resumedOn.add(worker);
      socket.destroy();
    }
    assert.deepEqual([...resumedOn].sort(), [...workers].sort(), `${maxVersion}: both workers resumed the ticket worker ${madeBy} made`);
  }
});
