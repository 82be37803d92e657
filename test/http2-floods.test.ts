// The known HTTP/2 attacks, each sent as real frames: rapid reset, CONTINUATION floods, header
// lists over maxHeaderListSize, HPACK bombs, SETTINGS and PING floods, a stream held open by a
// shut flow-control window. Each ends the attacker's stream or connection, reaches no server with
// a forged request, and leaves lb serving the next client.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { ErrorCode, Flag, FrameType, frame, getRequest, headerBlock, indexedRepeats, RawH2Client } from './helpers/h2-frames.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

const bigBody = Buffer.alloc(1024 * 1024, 0x62);

async function floodedLb(t: TestContext, web = '') {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.end(req.url === '/big' ? bigBody : 'ok'));
  });
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: `http2: { cleartext: true${web} }, timeouts: { idle: 1s }` }));
  const port = lb.port('web');
  const connect = async (options?: Parameters<typeof RawH2Client.connect>[1]) => {
    const client = await RawH2Client.connect(port, options);
    t.after(() => client.close());
    return client;
  };
  /** A new client is served, on a connection of its own. */
  const stillServing = async () => {
    const session = h2Session(t, `http://127.0.0.1:${port}`);
    const res = await h2Request(session, { ':path': '/next', ':authority': 'app.test' });
    session.close();
    assert.equal(res.status, 200);
  };
  return { seen, connect, stillServing, backend };
}

/** Bytes of `fields` as one HEADERS frame and as many CONTINUATION frames as 8000-byte pieces need. */
function splitHeaders(stream: number, block: Buffer): Buffer {
  const frames = [frame(FrameType.HEADERS, Flag.END_STREAM | (block.length <= 8000 ? Flag.END_HEADERS : 0), stream, block.subarray(0, 8000))];
  for (let at = 8000; at < block.length; at += 8000) frames.push(frame(FrameType.CONTINUATION, at + 8000 >= block.length ? Flag.END_HEADERS : 0, stream, block.subarray(at, at + 8000)));
  return Buffer.concat(frames);
}

test('rapid reset: a client that opens and resets streams beyond its budget gets GOAWAY ENHANCE_YOUR_CALM and is closed', async (t) => {
  const { seen, connect, stillServing } = await floodedLb(t);
  const client = await connect();
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(ErrorCode.CANCEL);
  let stream = 1;
  for (let batch = 0; batch < 20 && !client.closed; batch++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < 100; i++, stream += 2) frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream, headerBlock(getRequest('/reset'))), frame(FrameType.RST_STREAM, 0, stream, cancel));
    client.send(Buffer.concat(frames));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const goAway = await client.waitFor((f) => f.type === FrameType.GOAWAY);
  assert.equal(goAway.payload.readUInt32BE(4), ErrorCode.ENHANCE_YOUR_CALM);
  await client.waitClosed();
  assert.ok(seen.length < 400, `${seen.length} of 2000 reset streams reached the server`);
  await stillServing();
});

test('CONTINUATION flood: a header block that never ends is cut off, and nothing of it reaches the server', async (t) => {
  const { seen, connect, stillServing } = await floodedLb(t);
  const client = await connect();
  client.send(frame(FrameType.HEADERS, Flag.END_STREAM, 1, headerBlock(getRequest('/continuation'))));
  for (let i = 0; i < 5000 && !client.closed; i++) {
    if (!client.send(frame(FrameType.CONTINUATION, 0, 1, headerBlock([[`x-c${i}`, 'v'.repeat(100)]])))) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await client.waitClosed();
  assert.deepEqual(seen, []);
  await stillServing();
});

test('a header list over maxHeaderListSize (16 KiB) gets 431 and reaches no server; the connection goes on', async (t) => {
  const { seen, connect } = await floodedLb(t);
  const client = await connect();
  const fields = [...getRequest('/large'), ...Array.from({ length: 20 }, (_, i): [string, string] => [`x-h${i}`, 'v'.repeat(1000)])];
  client.send(splitHeaders(1, headerBlock(fields)));
  const response = await client.waitFor((f) => f.type === FrameType.HEADERS && f.stream === 1);
  // `:status: 431` as HPACK writes it: a literal of the static table's :status (index 8-14), value "431".
  assert.ok(response.payload.includes(Buffer.from('431')), `status 431: ${response.payload.toString('hex')}`);
  client.headers(3, getRequest('/small'));
  await client.waitFor((f) => f.type === FrameType.HEADERS && f.stream === 3);
  assert.deepEqual(seen, ['/small']);
});

test('HPACK bomb: a large entry of the dynamic table referenced thousands of times is refused before it is a request', async (t) => {
  const { seen, connect, stillServing } = await floodedLb(t);
  const client = await connect();
  client.send(frame(FrameType.HEADERS, Flag.END_STREAM | Flag.END_HEADERS, 1, Buffer.concat([headerBlock(getRequest('/bomb')), indexedRepeats('x-bomb', 'b'.repeat(4000), 4000)])));
  const end = await client.streamEnd(1);
  assert.ok(end.rst !== undefined || end.goaway !== undefined, `the stream or the connection ends: ${JSON.stringify(end)}`);
  assert.deepEqual(seen, []);
  await stillServing();
});

for (const [name, flood] of [['SETTINGS', frame(FrameType.SETTINGS, 0, 0)], ['PING', frame(FrameType.PING, 0, 0, Buffer.alloc(8))]] as const) {
  test(`${name} flood: a client that sends thousands and does not read the acknowledgements is closed`, async (t) => {
    const { connect, stillServing } = await floodedLb(t);
    const client = await connect({ ackSettings: false });
    client.socket.pause();
    const thousand = Buffer.concat(Array.from({ length: 1000 }, () => flood));
    for (let i = 0; i < 50 && !client.socket.destroyed; i++) {
      if (!client.send(thousand)) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    client.socket.resume();
    await client.waitClosed();
    const goAway = client.goAway();
    if (goAway) assert.notEqual(goAway.payload.readUInt32BE(4), ErrorCode.NO_ERROR);
    await stillServing();
  });
}

test('a stream whose flow-control window the client keeps shut is reset after timeouts.idle, and its server connection freed', async (t) => {
  const { seen, connect, stillServing, backend } = await floodedLb(t);
  // SETTINGS_INITIAL_WINDOW_SIZE (4) = 0: lb may send no DATA on any stream until the client says so.
  const client = await connect({ settings: { 4: 0 } });
  const started = Date.now();
  client.headers(1, getRequest('/big'));
  const end = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.stream === 1, 10_000);
  const waited = Date.now() - started;
  assert.equal(end.payload.readUInt32BE(0), ErrorCode.CANCEL);
  assert.ok(waited >= 900 && waited < 5000, `reset after ${waited} ms (timeouts.idle: 1s)`);
  assert.deepEqual(seen, ['/big']);
  await eventually(async () => (await backend.connections()) === 0, 'the server connection of the stalled response is closed');
  await stillServing();
});

test('a client that opens more streams than maxConcurrentStreams once it acknowledged the setting is closed with GOAWAY', async (t) => {
  const { connect, stillServing } = await floodedLb(t, ', maxConcurrentStreams: 2');
  const client = await connect();
  await client.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0);
  // Two uploads that never end hold both streams open.
  const upload: Array<[string, string]> = [[':method', 'POST'], [':scheme', 'http'], [':path', '/upload'], [':authority', 'app.test']];
  client.headers(1, upload, false);
  client.headers(3, upload, false);
  client.headers(5, getRequest('/third'));
  const end = await client.streamEnd(5);
  assert.ok(end.goaway !== undefined && end.goaway !== ErrorCode.NO_ERROR, JSON.stringify(end));
  await client.waitClosed();
  await stillServing();
});
