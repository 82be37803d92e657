// What does not speak TLS properly on an https port: garbage, plain HTTP, a ClientHello cut
// short, a name strictSNI refuses, a client that opens and says nothing. Each is a closed
// connection and a count in lb_tls_handshakes_total, and nothing else notices: a keep-alive
// connection opened before carries on, and new clients are served.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry, requestOn, tlsConnect, tlsRequest } from './helpers/tls.js';
import { eventually } from './helpers/wait.js';

/** Sends `bytes` (nothing, when undefined) and resolves with what came back, the time the server took to close, and whether it did. */
function probe(port: number, bytes: Buffer | string | undefined, waitMs = 5_000): Promise<{ reply: Buffer; ms: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      if (bytes !== undefined) socket.write(bytes);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), ms: Date.now() - started, closed: false });
    }, waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), ms: Date.now() - started, closed: true });
    });
  });
}

async function setup(t: TestContext, tls: string, certificates = 1) {
  const certs = new CertificateFolder(t);
  const list = [certs.certificate({ names: ['good.test'] }), certs.certificate({ type: 'rsa', names: ['other.test'] })].slice(0, certificates);
  const backend = await namedBackend(t, 'fine');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: websecure, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: false, entrypoints: { websecure: `protocol: https, timeouts: { requestHeaders: 400ms }, tls: { certificates: [ ${list.map(certEntry).join(', ')} ]${tls} }` } }));
  const port = lb.port('websecure');
  const keptOpen = await tlsConnect({ port, servername: 'good.test' });
  t.after(() => keptOpen.destroy());
  assert.equal((await requestOn(keptOpen, '/before', 'good.test')).body, 'fine');
  const counted = async (result: string) => {
    const text = await lb.metrics.registry.metrics();
    return [...text.matchAll(new RegExp(`lb_tls_handshakes_total\\{entrypoint="websecure",version="[^"]+",result="${result}"\\} (\\d+)`, 'g'))].reduce((sum, m) => sum + Number(m[1]), 0);
  };
  return { lb, port, keptOpen, counted };
}

const helloStart = Buffer.from([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]);

for (const [variant, tls, certificates] of [['one certificate', '', 1], ['two certificates (the ClientHello is read first)', '', 2], ['strictSNI', ', strictSNI: true', 2]] as const) {
  test(`bad input on an https port, ${variant}: each is closed and counted, others are unaffected`, async (t) => {
    if (!CertificateFolder.available(t)) return;
    const { port, keptOpen, counted } = await setup(t, tls, certificates);

    const garbage = await probe(port, Buffer.from('\x16\x03\x01\x00\x05hello, this is not TLS at all'.repeat(3)));
    assert.equal(garbage.closed, true);
    const plainHttp = await probe(port, 'GET / HTTP/1.1\r\nHost: good.test\r\n\r\n');
    assert.equal(plainHttp.closed, true);
    assert.doesNotMatch(plainHttp.reply.toString('latin1'), /^HTTP/, 'no HTTP answer in the clear');
    await eventually(async () => (await counted('protocol_error')) === 2, 'two protocol errors');

    // Opens, says nothing: closed after timeouts.requestHeaders (400ms), not the 2 minutes of Node's default.
    const silent = await probe(port, undefined);
    assert.equal(silent.closed, true);
    assert.ok(silent.ms >= 350 && silent.ms < 3_000, `closed after ${silent.ms}ms`);
    // Half a ClientHello, then nothing: the same.
    const half = await probe(port, helloStart);
    assert.equal(half.closed, true);
    assert.ok(half.ms < 3_000, `closed after ${half.ms}ms`);
    await eventually(async () => (await counted('timeout')) === 2, 'two timeouts');

    // A client that leaves in the middle of its ClientHello.
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(helloStart);
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
    });
    await eventually(async () => (await counted('closed')) === 1, 'one client that left');
    assert.equal(await counted('timeout'), 2, 'not a timeout: it closed');

    if (tls.includes('strictSNI')) {
      await assert.rejects(tlsRequest({ port, servername: 'nobody.test' }), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
      assert.equal(await counted('unknown_sni'), 1);
    }
    // Meanwhile: the connection opened before carries on, and new clients are served.
    assert.equal((await requestOn(keptOpen, '/after', 'good.test')).body, 'fine');
    assert.equal((await tlsRequest({ port, servername: 'good.test' })).body, 'fine');
    assert.equal((await tlsRequest({ port })).body, 'fine');
  });
}

test('a client that refuses lb\'s certificate (an unknown CA) is counted as certificate_rejected', async (t) => {
  if (!CertificateFolder.available(t)) return;
  const { port, counted } = await setup(t, '');
  const otherCa = new CertificateFolder(t).ca('not lb\'s CA');
  for (const version of ['-tls1_2', '-tls1_3']) {
    // Asynchronously: lb runs in this process.
    await new Promise<void>((resolve) => {
      const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'good.test', version, '-verify_return_error', '-CAfile', otherCa.certFile], { timeout: 10_000 }, () => resolve());
      child.stdin?.end();
    });
  }
  await eventually(async () => (await counted('certificate_rejected')) === 2, 'two refusals');
});
