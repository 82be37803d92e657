// gRPC through lb with @grpc/grpc-js client and server (h2c entrypoint, h2c:// servers): the four
// call kinds with trailers intact; lb's own errors as gRPC (HTTP 200, application/grpc,
// grpc-status 14 UNAVAILABLE or 4 DEADLINE_EXCEEDED); grpc-timeout as the call's deadline; a
// server killed in the middle of a stream.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { lbYaml } from './helpers/config.js';
import { EchoClient, startGrpcServer, type EchoClientType, type Message } from './helpers/grpc-echo.js';
import { h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { closedPort } from './helpers/servers.js';

async function grpcLb(t: TestContext, servers: string, service = '') {
  const lb = await startLb(t, lbYaml(`
routers:
  all: { entrypoint: web, match: { host: "127.0.0.1" }, service: echo }
  none: { entrypoint: web, match: { host: "empty.test" }, service: empty }
services:
  echo: { ${service} servers: [ ${servers} ] }
  empty: { servers: [] }
`, { web: 'http2: { cleartext: true }' }));
  const client = new EchoClient(`127.0.0.1:${lb.port('web')}`, grpc.credentials.createInsecure()) as EchoClientType;
  t.after(() => client.close());
  return { lb, client };
}

async function echoServer(t: TestContext) {
  const { server, port } = await startGrpcServer();
  t.after(() => server.forceShutdown());
  return port;
}

function unary(client: EchoClientType, message: Message, options: grpc.CallOptions = {}): Promise<{ reply?: Message; error?: grpc.ServiceError; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = (client.unary as (m: Message, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Message) => void) => grpc.ClientUnaryCall)(message, new grpc.Metadata(), options, (error, reply) => {
      setImmediate(() => resolve({ reply, ...(error ? { error } : {}), trailers }));
    });
    call.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
  });
}

test('unary, server-streaming, client-streaming and bidi calls pass through lb, with their trailers and error details intact', async (t) => {
  const port = await echoServer(t);
  const { client } = await grpcLb(t, `{ url: "h2c://127.0.0.1:${port}" }`);
  const ok = await unary(client, { text: 'hi' });
  assert.equal(ok.reply?.text, 'echo hi');
  assert.deepEqual(ok.trailers?.get('x-trailer'), ['kept']);
  const failed = await unary(client, { text: 'fail' });
  assert.equal(failed.error?.code, grpc.status.NOT_FOUND);
  assert.equal(failed.error?.details, 'no such thing: ünïcode');
  const parts: string[] = [];
  const stream = (client.serverStream as (m: Message) => grpc.ClientReadableStream<Message>)({ text: 'go', n: 4 });
  stream.on('data', (m: Message) => parts.push(m.text));
  await once(stream, 'end');
  assert.deepEqual(parts, ['part 0', 'part 1', 'part 2', 'part 3']);
  const joined = await new Promise<Message>((resolve, reject) => {
    const call = (client.clientStream as (cb: (e: grpc.ServiceError | null, r?: Message) => void) => grpc.ClientWritableStream<Message>)((e, r) => (e ? reject(e) : resolve(r!)));
    for (const text of ['a', 'b', 'c']) call.write({ text });
    call.end();
  });
  assert.deepEqual(joined, { text: 'a+b+c', n: 3 });
  const bidi = (client.bidi as () => grpc.ClientDuplexStream<Message, Message>)();
  const answers: string[] = [];
  bidi.on('data', (m: Message) => {
    answers.push(m.text);
    if (answers.length < 3) bidi.write({ text: `m${answers.length}` });
    else bidi.end();
  });
  bidi.write({ text: 'm0' });
  await once(bidi, 'end');
  assert.deepEqual(answers, ['re m0', 're m1', 're m2']);
});

test('lb\'s own errors are gRPC: no server and a refused connection are UNAVAILABLE, a server timeout DEADLINE_EXCEEDED, no route UNIMPLEMENTED', async (t) => {
  const port = await echoServer(t);
  const dead = await closedPort();
  const refused = await grpcLb(t, `{ url: "h2c://127.0.0.1:${dead}" }`, 'retries: 0,');
  const r = await unary(refused.client, { text: 'x' });
  assert.equal(r.error?.code, grpc.status.UNAVAILABLE);
  assert.match(r.error?.details ?? '', /refused the connection/);
  assert.deepEqual(r.trailers?.get('lb-error'), ['LB_UPSTREAM_REFUSED']);
  const slow = await grpcLb(t, `{ url: "h2c://127.0.0.1:${port}" }`, 'timeouts: { responseHeaders: 300ms },');
  const late = await unary(slow.client, { text: 'slow' });
  assert.equal(late.error?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.deepEqual(late.trailers?.get('lb-error'), ['LB_UPSTREAM_RESPONSE_TIMEOUT']);
  // The same answers on the wire: HTTP 200, application/grpc, grpc-status in a trailers-only response.
  const session = h2Session(t, `http://127.0.0.1:${slow.lb.port('web')}`);
  for (const [authority, status] of [['empty.test', '14'], ['127.0.0.1', '0']] as const) {
    const stream = session.request({ ':method': 'POST', ':path': '/lb.test.Echo/Unary', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' });
    stream.end(grpcFrame({ text: 'raw' }));
    const [headers] = (await once(stream, 'response')) as [Record<string, string>];
    stream.resume();
    assert.equal(headers[':status'], 200);
    if (status === '0') continue;
    assert.equal(headers['content-type'], 'application/grpc');
    assert.equal(headers['grpc-status'], status, authority);
  }
  const noRoute = new EchoClient(`127.0.0.1:${slow.lb.port('web')}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'nowhere.test' }) as EchoClientType;
  t.after(() => noRoute.close());
  assert.equal((await unary(noRoute, { text: 'x' })).error?.code, grpc.status.UNIMPLEMENTED);
});

/** A gRPC message frame: uncompressed flag, length, JSON body. */
function grpcFrame(message: Message): Buffer {
  const body = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

test('grpc-timeout is the call\'s deadline: lb answers DEADLINE_EXCEEDED when it passes, before the server would', async (t) => {
  const port = await echoServer(t);
  const { lb } = await grpcLb(t, `{ url: "h2c://127.0.0.1:${port}" }`);
  const session = h2Session(t, `http://127.0.0.1:${lb.port('web')}`);
  const started = Date.now();
  // No deadline of the client's own: only lb can end this call before the server's 2 s.
  const stream = session.request({ ':method': 'POST', ':path': '/lb.test.Echo/Unary', ':authority': '127.0.0.1', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' });
  stream.end(grpcFrame({ text: 'slow' }));
  const [headers] = (await once(stream, 'response')) as [Record<string, string>];
  const waited = Date.now() - started;
  assert.equal(headers[':status'], 200);
  assert.equal(headers['grpc-status'], '4');
  assert.equal(headers['lb-error'], 'LB_UPSTREAM_RESPONSE_TIMEOUT');
  assert.ok(waited >= 250 && waited < 1500, `answered after ${waited} ms`);
});

test('a server killed in the middle of a stream ends the call UNAVAILABLE; the next call goes to another server', async (t) => {
  const other = await echoServer(t);
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/grpc-echo-server.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const doomed = Number(String(line).trim());
  const { client } = await grpcLb(t, `{ url: "h2c://127.0.0.1:${doomed}" }, { url: "h2c://127.0.0.1:${other}" }`, 'balancer: round_robin, retries: 1, retryBudget: 100,');
  // Round robin: the first call goes to the first server, the one to be killed.
  const stream = (client.serverStream as (m: Message) => grpc.ClientReadableStream<Message>)({ text: 'forever', n: 0 });
  const first = await once(stream, 'data');
  assert.equal((first[0] as Message).text, 'part 0');
  child.kill('SIGKILL');
  const [error] = (await once(stream, 'error')) as [grpc.ServiceError];
  assert.equal(error.code, grpc.status.UNAVAILABLE, error.message);
  for (let i = 0; i < 3; i++) {
    const after = await unary(client, { text: `after ${i}` });
    assert.equal(after.reply?.text, `echo after ${i}`, after.error?.message);
  }
});
