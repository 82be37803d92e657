// TCP routing by SNI (TLS passthrough): lb reads the ClientHello without terminating it, picks the
// router by the server name (exact, then the longest wildcard, then the fallback) and forwards the
// bytes untouched, so that the client's TLS session is with the chosen server itself.
import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { lbYaml } from './helpers/config.js';
import { startLb, type TestBalancer } from './helpers/lb.js';
import { spawnLb } from './helpers/lb-process.js';
import { startTcpServer } from './helpers/servers.js';
import { makeTestCa, namedTlsServer, type TestCa } from './helpers/test-ca.js';
import { requireTool } from './helpers/tools.js';
import { eventually, within } from './helpers/wait.js';

interface Answer {
  /** The first line the server wrote: its name. */
  server: string;
  /** The CN of the certificate the client verified. */
  certificate: string;
}

/**
 * A TLS client through lb: verifies the server's certificate against `ca` (and `servername`, when
 * given), reads the server's name line, and checks that what it sends is echoed back.
 */
function tlsRoundTrip(port: number, ca: TestCa, servername: string | undefined, socket?: Duplex): Promise<Answer> {
  return within(new Promise<Answer>((resolve, reject) => {
    const client: TLSSocket = connectTls({
      ...(socket ? { socket } : { host: '127.0.0.1', port }),
      ca: ca.ca,
      ...(servername !== undefined ? { servername } : { checkServerIdentity: () => undefined }),
    });
    let text = '';
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => {
      text += chunk;
      if (text === '') return;
      const [server, echoed] = text.split('\n');
      if (echoed === 'ping') {
        resolve({ server: server!, certificate: String(client.getPeerCertificate().subject.CN) });
        client.destroy();
      }
    });
    client.once('secureConnect', () => client.write('ping'));
    client.once('error', reject);
    client.once('close', () => reject(new Error(`closed after "${text}"`)));
  }), `a TLS round trip for ${servername ?? 'no server name'}`);
}

/** Resolves when lb closes `socket`, with how long that took. */
function closedBy(socket: Socket): Promise<number> {
  const started = performance.now();
  return within(new Promise<number>((resolve) => {
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('close', () => resolve(performance.now() - started));
  }), 'lb closes the connection');
}

async function rejected(lb: TestBalancer, reason: string): Promise<number> {
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  const line = new RegExp(`^lb_tcp_sni_rejected_total\\{entrypoint="tls",reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics);
  return line ? Number(line[1]) : 0;
}

/** Backends A (db.example.com), B (*.example.com), C (*.eu.example.com) and, optionally, a fallback. */
async function sniSetup(t: TestContext, options: { fallback: boolean; entrypoint?: string }) {
  const ca = makeTestCa(t);
  const names = { a: ['db.example.com'], b: ['*.example.com'], c: ['*.eu.example.com'], fallback: ['fallback.test'] };
  const servers = Object.fromEntries(await Promise.all(Object.entries(names).map(async ([name, sni]) => [name, await namedTlsServer(t, name, ca.issue(sni))] as const)));
  const router = (name: string, sni: string[] | undefined) => `  ${name}: { entrypoint: tls, service: ${name}${sni ? `, match: { sni: [${sni.map((s) => `"${s}"`).join(', ')}] }` : ''} }`;
  const yaml = lbYaml([
    'routers:',
    router('a', ['DB.example.com.']),
    router('b', names.b),
    router('c', names.c),
    ...(options.fallback ? [router('fallback', undefined)] : []),
    'services:',
    ...Object.keys(names).map((name) => `  ${name}: { servers: [ { address: "127.0.0.1:${servers[name]!.port}" } ] }`),
  ].join('\n'), { web: false, entrypoints: { tls: `protocol: tcp${options.entrypoint ? `, ${options.entrypoint}` : ''}` } });
  return { ca, yaml };
}

test('the server name picks the router: exact, then the longest wildcard, then the fallback; the session is with that server', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const { ca, yaml } = await sniSetup(t, { fallback: true });
  const lb = await startLb(t, yaml);
  const port = lb.port('tls');
  assert.deepEqual(await tlsRoundTrip(port, ca, 'db.example.com'), { server: 'a', certificate: 'db.example.com' }, 'exact, case and trailing dot as written in lb.yaml do not matter');
  assert.deepEqual(await tlsRoundTrip(port, ca, 'Shop.Example.com'), { server: 'b', certificate: '*.example.com' });
  assert.deepEqual(await tlsRoundTrip(port, ca, 'shop.eu.example.com'), { server: 'c', certificate: '*.eu.example.com' }, 'the longest wildcard wins');
  assert.deepEqual(await tlsRoundTrip(port, ca, 'fallback.test'), { server: 'fallback', certificate: 'fallback.test' }, 'an unknown name goes to the fallback');
  assert.deepEqual(await tlsRoundTrip(port, ca, undefined), { server: 'fallback', certificate: 'fallback.test' }, 'no SNI goes to the fallback');
  const state = (await (await fetch(`${lb.url('admin')}/api/state`)).json()) as { routers: Array<{ name: string; match: { sni: string[] | null } }> };
  assert.deepEqual(state.routers.map((r) => [r.name, r.match.sni]), [['a', ['db.example.com']], ['b', ['*.example.com']], ['c', ['*.eu.example.com']], ['fallback', null]]);
});

test('without a fallback, an unknown name or no SNI is closed and counted', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const { ca, yaml } = await sniSetup(t, { fallback: false });
  const lb = await startLb(t, yaml);
  await assert.rejects(tlsRoundTrip(lb.port('tls'), ca, 'other.test'), /ECONNRESET|socket disconnected|closed/);
  await assert.rejects(tlsRoundTrip(lb.port('tls'), ca, undefined), /ECONNRESET|socket disconnected|closed/);
  assert.equal(await rejected(lb, 'unknown_name'), 1);
  assert.equal(await rejected(lb, 'no_sni'), 1);
  assert.equal((await tlsRoundTrip(lb.port('tls'), ca, 'db.example.com')).server, 'a');
});

test('a ClientHello written one byte at a time, with pauses, still routes', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const { ca, yaml } = await sniSetup(t, { fallback: true });
  const lb = await startLb(t, yaml);
  // The client's first flight (the ClientHello) goes out byte by byte; the rest as it comes.
  const raw = connectTcp({ host: '127.0.0.1', port: lb.port('tls'), noDelay: true });
  let writes = 0;
  const slow = new Duplex({
    write(chunk: Buffer, _encoding, done) {
      if (writes++ > 0) return void raw.write(chunk, () => done());
      void (async () => {
        for (const byte of chunk) {
          raw.write(Buffer.of(byte));
          await delay(1);
        }
        done();
      })();
    },
    read() {},
    final(done) {
      raw.end();
      done();
    },
  });
  raw.on('data', (chunk: Buffer) => slow.push(chunk));
  raw.once('end', () => slow.push(null));
  raw.once('error', (err) => slow.destroy(err));
  assert.deepEqual(await tlsRoundTrip(0, ca, 'shop.eu.example.com', slow), { server: 'c', certificate: '*.eu.example.com' });
  raw.destroy();
});

test('a client that sends nothing is closed at the entrypoint\'s requestHeaders deadline', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const { yaml } = await sniSetup(t, { fallback: true, entrypoint: 'timeouts: { requestHeaders: 300ms }' });
  const lb = await startLb(t, yaml);
  const ms = await closedBy(connectTcp({ host: '127.0.0.1', port: lb.port('tls') }));
  assert.ok(ms >= 250 && ms < 5_000, `closed after ${Math.round(ms)}ms`);
  assert.equal(await rejected(lb, 'timeout'), 1);
});

test('garbage instead of a ClientHello is closed and counted without a fallback; other connections are served meanwhile', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const { ca, yaml } = await sniSetup(t, { fallback: false });
  const lb = await startLb(t, yaml);
  const open = connectTcp({ host: '127.0.0.1', port: lb.port('tls') });
  await new Promise((resolve) => open.once('connect', resolve));
  const garbage = connectTcp({ host: '127.0.0.1', port: lb.port('tls') });
  garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const malformed = connectTcp({ host: '127.0.0.1', port: lb.port('tls') });
  malformed.write(Buffer.from([22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0])); // a handshake record whose ClientHello is cut short
  await Promise.all([closedBy(garbage), closedBy(malformed)]);
  assert.equal(await rejected(lb, 'not_tls'), 1);
  assert.equal(await rejected(lb, 'malformed'), 1);
  assert.equal((await tlsRoundTrip(lb.port('tls'), ca, 'db.example.com')).server, 'a', 'served while a half-sent connection waits');
  assert.equal(open.destroyed, false, 'the silent connection is still waiting, before its deadline');
  open.destroy();
});

test('with a fallback router, a first flight that is not TLS goes to it untouched', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const tlsServer = await namedTlsServer(t, 'a', ca.issue(['db.example.com']));
  const plain = await startTcpServer(t, (socket) => socket.pipe(socket));
  const lb = await startLb(t, lbYaml(`
routers:
  a: { entrypoint: tls, service: a, match: { sni: db.example.com } }
  plain: { entrypoint: tls, service: plain }
services:
  a: { servers: [ { address: "127.0.0.1:${tlsServer.port}" } ] }
  plain: { servers: [ { address: "127.0.0.1:${plain.port}" } ] }
`, { web: false, entrypoints: { tls: 'protocol: tcp' } }));
  const client = connectTcp({ host: '127.0.0.1', port: lb.port('tls') });
  client.write('PING plain text\r\n');
  let echoed = '';
  client.setEncoding('utf8').on('data', (chunk: string) => (echoed += chunk));
  await eventually(() => echoed === 'PING plain text\r\n', 'the plain-text server echoes');
  client.destroy();
  assert.equal((await tlsRoundTrip(lb.port('tls'), ca, 'db.example.com')).server, 'a');
});

test('with workers: 2, every worker routes by SNI', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const { ca, yaml } = await sniSetup(t, { fallback: true });
  const lb = await spawnLb(t, `${yaml}\nworkers: 2\n`);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => tlsRoundTrip(lb.port('tls'), ca, i % 2 ? 'db.example.com' : 'x.eu.example.com')));
  assert.deepEqual(answers.map((a) => a.server), ['c', 'a', 'c', 'a', 'c', 'a', 'c', 'a']);
});
