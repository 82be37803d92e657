import assert from 'node:assert/strict';
import { connect } from 'node:net';
import test, { type TestContext } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

async function openConnections(adminUrl: string): Promise<number> {
  const text = await (await request(`${adminUrl}/metrics`)).body.text();
  return Number(/^lb_entrypoint_open_connections\{entrypoint="web",protocol="http"\} (\d+)$/m.exec(text)?.[1]);
}

/** A client that reads the response to its end and then keeps its own side open. */
async function halfOpenClient(t: TestContext, port: number, payload: string): Promise<string> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => socket.destroy());
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  socket.write(payload);
  await new Promise((resolve) => socket.once('end', resolve));
  return text;
}

test('a client that asked to close is closed once its response is out, without waiting for its FIN', async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const response = await halfOpenClient(t, lb.port('web'), 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(response, /^HTTP\/1\.1 200 [^]*\r\n\r\napp$/);
  await eventually(async () => ((await openConnections(lb.url('admin'))) === 0 ? true : undefined), 'lb to close its side', 5_000);
});

test('a client that may still be sending (bytes after its last request) is not closed over them: lb waits for its FIN', async (t) => {
  const backend = await namedBackend(t, 'app');
  const lb = await startLb(t, oneServiceConfig(backend.url));
  // HTTP/1.0 closes after the response, but bytes followed the request: closing over unread bytes
  // would reset the connection, so lb ends its side and waits for the client's.
  const socket = connect({ port: lb.port('web'), host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => socket.destroy());
  socket.on('error', () => undefined);
  socket.resume();
  socket.write('GET / HTTP/1.0\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHo');
  await new Promise((resolve) => socket.once('end', resolve));
  // A fixed window on purpose: what is proven is that lb does NOT close its side within it.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await openConnections(lb.url('admin')), 1);
});
