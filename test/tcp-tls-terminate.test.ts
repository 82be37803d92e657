// `tls: terminate` on TCP routers: the tcp entrypoint finishes the client's TLS handshake with its
// own certificates (chosen by SNI, as on https entrypoints), and relays the decrypted bytes to a
// plain server with the TCP relay's half-close and PROXY header; beside it, sni routers without
// it still pass TLS through untouched.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { parseConfig } from '../src/config/load.js';
import { lbYaml } from './helpers/config.js';
import { startLb, type TestBalancer } from './helpers/lb.js';
import { spawnLb } from './helpers/lb-process.js';
import { startTcpServer } from './helpers/servers.js';
import { makeTestCa, namedTlsServer, type Issued, type TestCa } from './helpers/test-ca.js';
import { certEntry } from './helpers/tls.js';
import { requireTool } from './helpers/tools.js';
import { eventually, within } from './helpers/wait.js';

/**
 * A plain TCP server that keeps what it reads and, at the client's FIN, answers
 * `<name>:<what it read>` and ends its side: a half-close that must pass through lb both ways.
 */
async function plainServer(t: TestContext, name: string): Promise<{ port: number; received: string[] }> {
  const received: string[] = [];
  const { port } = await startTcpServer(t, (socket: Socket) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => {
      received.push(text);
      socket.end(`${name}:${text}`);
    });
    socket.on('error', () => socket.destroy());
  }, { allowHalfOpen: true });
  return { port, received };
}

interface Exchange {
  /** The CN of the certificate the client verified. */
  certificate: string;
  /** Everything read until the server's FIN. */
  reply: string;
}

/** A TLS client that sends `text`, ends its side (close_notify and FIN), and reads to the end. */
function halfCloseExchange(port: number, options: ConnectionOptions, text = 'ping'): Promise<Exchange> {
  return within(new Promise<Exchange>((resolve, reject) => {
    const client = connectTls({ host: '127.0.0.1', port, ...options });
    let reply = '';
    let certificate = '';
    client.setEncoding('latin1');
    client.once('secureConnect', () => {
      certificate = String(client.getPeerCertificate().subject.CN);
      client.end(text);
    });
    client.on('data', (chunk: string) => (reply += chunk));
    client.once('end', () => {
      resolve({ certificate, reply });
      client.destroy();
    });
    client.once('error', reject);
  }), `a TLS exchange with ${String(options.servername)}`);
}

async function handshakes(lb: TestBalancer, result: string): Promise<number> {
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('lb_tls_handshakes_total{') && line.includes('entrypoint="tls"') && line.includes(`result="${result}"`)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

const service = (name: string, port: number, settings = '') => `  ${name}: { ${settings}servers: [ { address: "127.0.0.1:${port}" } ] }`;

interface TerminatingOptions {
  /** Default: one for app.test. */
  certificate?: Issued;
  /** More keys of the entrypoint's tls, e.g. `strictSNI: true, `. */
  tls?: string;
  /** The router's match; default: none (the fallback). */
  match?: string;
  /** More keys of the service. */
  service?: string;
}

/** lb.yaml with the tcp entrypoint `tls`, whose router `all` terminates and relays to the plain server on `port`. */
function terminating(ca: TestCa, port: number, options: TerminatingOptions = {}): string {
  return lbYaml([
    `routers: { all: { entrypoint: tls, service: plain, tls: terminate${options.match ? `, match: ${options.match}` : ''} } }`,
    'services:',
    service('plain', port, options.service),
  ].join('\n'), { entrypoints: { tls: `protocol: tcp, tls: { ${options.tls ?? ''}certificates: [ ${certEntry(options.certificate ?? ca.issue(['app.test']))} ] }` } });
}

test('a terminating fallback router: the client talks TLS with the entrypoint\'s certificate, the server gets plain bytes, and a half-close passes both ways', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const server = await plainServer(t, 'plain');
  const lb = await startLb(t, terminating(ca, server.port));
  const exchange = await halfCloseExchange(lb.port('tls'), { ca: ca.ca, servername: 'app.test' }, 'hello over TLS');
  assert.deepEqual(exchange, { certificate: 'app.test', reply: 'plain:hello over TLS' }, 'the server answered after the client\'s FIN, and its FIN reached the client');
  assert.deepEqual(server.received, ['hello over TLS'], 'the server read the decrypted bytes');
  assert.equal(await handshakes(lb, 'success'), 1);
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  assert.match(metrics, /^lb_tcp_bytes_total\{entrypoint="tls",service="plain",direction="in"\} 14$/m, 'bytes are counted decrypted');
  assert.match(metrics, /^lb_tcp_bytes_total\{entrypoint="tls",service="plain",direction="out"\} 20$/m);
  await eventually(async () => /^lb_entrypoint_open_connections\{entrypoint="tls",protocol="tcp"\} 0$/m.test(await (await fetch(`${lb.url('admin')}/metrics`)).text()), 'the raw connection to close with the TLS one');
});

test('on one entrypoint, sni picks the router and the certificate: two terminating routers, and one that passes TLS through to its server', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const a = await plainServer(t, 'a');
  const b = await plainServer(t, 'b');
  const db = await namedTlsServer(t, 'db', ca.issue(['db.test']));
  const lb = await startLb(t, lbYaml([
    'routers:',
    '  a: { entrypoint: tls, service: a, tls: terminate, match: { sni: a.test } }',
    '  b: { entrypoint: tls, service: b, tls: terminate, match: { sni: "*.b.test" } }',
    '  db: { entrypoint: tls, service: db, tls: passthrough, match: { sni: db.test } }',
    'services:',
    service('a', a.port),
    service('b', b.port),
    service('db', db.port),
  ].join('\n'), { entrypoints: { tls: `protocol: tcp, tls: { certificates: [ ${certEntry(ca.issue(['a.test']))}, ${certEntry(ca.issue(['*.b.test']))} ] }` } }));
  const port = lb.port('tls');
  assert.deepEqual(await halfCloseExchange(port, { ca: ca.ca, servername: 'a.test' }), { certificate: 'a.test', reply: 'a:ping' });
  assert.deepEqual(await halfCloseExchange(port, { ca: ca.ca, servername: 'x.b.test' }), { certificate: '*.b.test', reply: 'b:ping' });
  // namedTlsServer writes its name, then echoes; its own certificate proves the session is with it.
  assert.deepEqual(await halfCloseExchange(port, { ca: ca.ca, servername: 'db.test' }), { certificate: 'db.test', reply: 'db\nping' });
  assert.equal(db.handshakes(), 1);
  assert.equal(await handshakes(lb, 'success'), 2, 'only the terminated handshakes are lb\'s');
});

test('what the server sends in small pieces while the client is not reading reaches it whole and in order (writes queued on the TLS side, the read buffer reused)', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  // More than the loopback socket buffers hold, so that lb's writes to the client queue up.
  const payload = randomBytes(12 * 1024 * 1024);
  const { port: serverPort } = await startTcpServer(t, (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    // One small write per turn of the event loop (lb runs in this process), so that lb reads
    // small chunks, one at a time, while earlier ones still wait to go out to the client.
    let at = 0;
    const next = () => {
      if (socket.destroyed) return;
      if (at >= payload.length) return void socket.end();
      socket.write(payload.subarray(at, (at += 1000)));
      setImmediate(next);
    };
    next();
  });
  const lb = await startLb(t, terminating(ca, serverPort));
  const client = connectTls({ host: '127.0.0.1', port: lb.port('tls'), ca: ca.ca, servername: 'app.test' });
  t.after(() => client.destroy());
  client.pause();
  await delay(1000);
  const hash = createHash('sha256');
  let received = 0;
  client.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
  });
  client.resume();
  await within(new Promise((resolve, reject) => client.once('end', resolve).once('error', reject)), 'the whole payload', 60_000);
  assert.equal(received, payload.length);
  assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'), 'every byte as the server sent it');
});

test('strictSNI: a name that a terminating router matches but no certificate covers gets unrecognized_name, counted', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const server = await plainServer(t, 'plain');
  const lb = await startLb(t, terminating(ca, server.port, { match: '{ sni: "*.test" }', tls: 'strictSNI: true, ', certificate: ca.issue(['a.test']) }));
  await assert.rejects(halfCloseExchange(lb.port('tls'), { ca: ca.ca, servername: 'other.test' }), { code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' });
  assert.equal(await handshakes(lb, 'unknown_sni'), 1);
  assert.deepEqual(server.received, [], 'nothing reached the server');
  assert.equal((await halfCloseExchange(lb.port('tls'), { ca: ca.ca, servername: 'a.test' })).reply, 'plain:ping');
});

test('a failed handshake is counted by its reason, and nothing reaches the server', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const server = await plainServer(t, 'plain');
  const lb = await startLb(t, terminating(ca, server.port, { tls: 'minVersion: 1.3, ' }));
  await assert.rejects(halfCloseExchange(lb.port('tls'), { ca: ca.ca, servername: 'app.test', maxVersion: 'TLSv1.2' }));
  // A client that does not trust lb's certificate refuses it with an alert (Node's own client
  // checks only after the handshake). Asynchronously: lb runs in this process.
  const otherCa = makeTestCa(t, 'not lb\'s CA');
  await new Promise<void>((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${lb.port('tls')}`, '-servername', 'app.test', '-verify_return_error', '-CAfile', otherCa.caFile], { timeout: 10_000 }, () => resolve());
    child.stdin?.end();
  });
  await eventually(async () => (await handshakes(lb, 'unsupported_version')) === 1 && (await handshakes(lb, 'certificate_rejected')) === 1, 'both failures counted');
  assert.deepEqual(server.received, []);
});

test('the server gets a PROXY header with the client\'s own address before the decrypted bytes', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const server = await plainServer(t, 'plain');
  const lb = await startLb(t, terminating(ca, server.port, { service: 'proxyProtocol: v1, ' }));
  let clientPort = 0;
  const client = connectTls({ host: '127.0.0.1', port: lb.port('tls'), ca: ca.ca, servername: 'app.test' });
  client.once('secureConnect', () => {
    clientPort = client.localPort!;
    client.end('data');
  });
  client.resume();
  await within(new Promise((resolve, reject) => client.once('end', resolve).once('error', reject)), 'the server\'s FIN');
  client.destroy();
  assert.deepEqual(server.received, [`PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${lb.port('tls')}\r\ndata`]);
});

test('a certificate file replaced on disk is served to new connections', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const first = ca.issue(['app.test']);
  const second: Issued = ca.issue(['app.test', 'new.app.test']);
  const server = await plainServer(t, 'plain');
  const lb = await startLb(t, terminating(ca, server.port, { certificate: first }));
  const port = lb.port('tls');
  assert.equal((await halfCloseExchange(port, { ca: ca.ca, servername: 'app.test' })).reply, 'plain:ping');
  await assert.rejects(halfCloseExchange(port, { ca: ca.ca, servername: 'new.app.test' }), /ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
  writeFileSync(first.keyFile, second.key);
  writeFileSync(first.certFile, second.cert);
  await eventually(async () => (await halfCloseExchange(port, { ca: ca.ca, servername: 'new.app.test' }).catch(() => undefined))?.reply === 'plain:ping', 'the new certificate to be served');
});

test('with workers: 2, every worker terminates with the certificates the primary pushed, and the handshakes are summed', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const server = await plainServer(t, 'plain');
  const lb = await spawnLb(t, `${terminating(ca, server.port, { match: '{ sni: app.test }' })}
workers: 2
`);
  const exchanges = await Promise.all(Array.from({ length: 8 }, (_, i) => halfCloseExchange(lb.port('tls'), { ca: ca.ca, servername: 'app.test' }, `n${i}`)));
  assert.deepEqual(exchanges.map((e) => e.reply), Array.from({ length: 8 }, (_, i) => `plain:n${i}`));
  await eventually(async () => /^lb_tls_handshakes_total\{entrypoint="tls",version="TLSv1\.3",result="success"\} 8$/m.test(await (await fetch(`http://127.0.0.1:${lb.port('admin')}/metrics`)).text()), 'eight handshakes summed over the workers');
});

test('a reload that gives the entrypoint a tls block and makes its router terminate applies to new connections; a tunnel opened before passes TLS through still', async (t) => {
  if (!requireTool(t, 'openssl', 'openssl')) return;
  const ca = makeTestCa(t);
  const server = await plainServer(t, 'plain');
  const backend = await namedTlsServer(t, 'backend', ca.issue(['app.test']));
  const yaml = (terminate: boolean) => lbYaml([
    `routers: { all: { entrypoint: tls, service: ${terminate ? 'plain, tls: terminate' : 'backend'}, match: { sni: app.test } } }`,
    'services:',
    service('plain', server.port),
    service('backend', backend.port),
  ].join('\n'), { entrypoints: { tls: `protocol: tcp${terminate ? `, tls: { certificates: [ ${certEntry(ca.issue(['app.test']))} ] }` : ''}` } });
  const lb = await startLb(t, yaml(false));
  const port = lb.port('tls');
  const open = connectTls({ host: '127.0.0.1', port, ca: ca.ca, servername: 'app.test' });
  t.after(() => open.destroy());
  let echoed = '';
  open.setEncoding('latin1').on('data', (chunk: string) => (echoed += chunk));
  await eventually(() => echoed === 'backend\n', 'the backend\'s greeting');

  await lb.reload(parseConfig(yaml(true), 'test.yaml'));
  assert.deepEqual(await halfCloseExchange(port, { ca: ca.ca, servername: 'app.test' }), { certificate: 'app.test', reply: 'plain:ping' });
  open.write('still there');
  await eventually(() => echoed === 'backend\nstill there', 'the tunnel opened before the reload to echo');
  assert.equal(backend.handshakes(), 1);
});
