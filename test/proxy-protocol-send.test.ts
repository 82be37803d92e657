import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { readProxyHeader, type ProxiedAddresses } from '../src/proxy/proxy-protocol.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { rawRequest, twoRequests } from './helpers/raw-http.js';
import { startTcpServer } from './helpers/servers.js';
import { eventually, within } from './helpers/wait.js';

// lb sending the PROXY protocol to servers (`proxyProtocol: v1 | v2` on a service), seen from a
// server that reads the header with lb's own parser. Clients connect from 127.0.0.2, lb from 127.0.0.1.

interface Received {
  /** undefined: a LOCAL / UNKNOWN header. */
  addresses: ProxiedAddresses | undefined;
  /** Request paths (HTTP) or bytes (TCP) that came after the header on this connection. */
  after: string[];
  /** An HTTP connection that switched to WebSocket: it echoes from then on. */
  upgraded?: boolean;
}

/**
 * A server that requires a PROXY header on each connection, then answers HTTP/1.1 keep-alive GETs
 * with the number of its connection (`http`), or echoes bytes (`tcp`).
 */
async function proxyReadingServer(t: TestContext, mode: 'http' | 'tcp') {
  const connections: Received[] = [];
  const { port } = await startTcpServer(t, (socket) => {
    let bytes = Buffer.alloc(0);
    let received: Received | undefined;
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (!received) {
        const header = readProxyHeader(bytes);
        if (header.status === 'incomplete') return;
        if (header.status === 'invalid') return void socket.destroy();
        received = { addresses: header.addresses, after: [] };
        connections.push(received);
        bytes = bytes.subarray(header.length);
      }
      if (mode === 'tcp') {
        if (bytes.length) received.after.push(bytes.toString('latin1'));
        socket.write(bytes);
        bytes = Buffer.alloc(0);
        return;
      }
      if (received.upgraded) {
        socket.write(`echo ${bytes.toString('latin1')}`);
        bytes = Buffer.alloc(0);
        return;
      }
      for (let end = bytes.indexOf('\r\n\r\n'); end >= 0; end = bytes.indexOf('\r\n\r\n')) {
        const head = bytes.toString('latin1', 0, end);
        received.after.push(head.slice(0, head.indexOf('\r\n')).split(' ')[1]!);
        bytes = bytes.subarray(end + 4);
        if (/^upgrade: websocket$/im.test(head)) {
          received.upgraded = true;
          return void socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        }
        const body = `connection ${connections.indexOf(received)}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  return { port, connections };
}

/** Two requests on one connection from 127.0.0.2; resolves with the bodies and the client's port. */
async function connectionsOfTwoRequests(port: number): Promise<{ bodies: string[]; clientPort: number }> {
  const { text, clientPort } = await twoRequests(port, '127.0.0.2', 'app', 'connection');
  return { bodies: [...text.matchAll(/connection \d+/g)].map((m) => m[0]), clientPort };
}

for (const version of ['v1', 'v2'] as const) {
  test(`HTTP with proxyProtocol ${version}: each client connection gets upstream connections of its own, with its address, reused only by its own requests`, async (t) => {
    const server = await proxyReadingServer(t, 'http');
    const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { proxyProtocol: ${version}, servers: [ { url: "http://127.0.0.1:${server.port}" } ] } }
`));
    const first = await connectionsOfTwoRequests(lb.port('web'));
    const second = await connectionsOfTwoRequests(lb.port('web'));
    assert.deepEqual(first.bodies, ['connection 0', 'connection 0'], 'the keep-alive connection is reused by the same client connection');
    assert.deepEqual(second.bodies, ['connection 1', 'connection 1'], 'and never by another one');
    assert.deepEqual(server.connections.map((c) => c.after), [['/one', '/two'], ['/one', '/two']]);
    for (const [i, { clientPort }] of [first, second].entries()) {
      assert.deepEqual(server.connections[i]!.addresses, {
        source: { address: '127.0.0.2', port: clientPort },
        destination: { address: '127.0.0.1', port: lb.port('web') },
      });
    }
  });
}

test('health checks of a service with proxyProtocol send a LOCAL header, HTTP and TCP, so that a server requiring it passes them', async (t) => {
  const web = await proxyReadingServer(t, 'http');
  const db = await proxyReadingServer(t, 'tcp');
  const lb = await startLb(t, lbYaml(`
routers:
  all: { entrypoint: web, service: app }
  db: { entrypoint: db, service: db }
services:
  app: { proxyProtocol: v2, healthCheck: { path: /health, interval: 200ms }, servers: [ { url: "http://127.0.0.1:${web.port}" } ] }
  db: { proxyProtocol: v1, healthCheck: { type: tcp, send: "PING", expect: "PING", interval: 200ms }, servers: [ { address: "127.0.0.1:${db.port}" } ] }
`, { entrypoints: { db: 'protocol: tcp' } }));
  await eventually(() => web.connections.length >= 2 && db.connections.length >= 2, 'two checks of each server');
  assert.deepEqual(web.connections[0], { addresses: undefined, after: ['/health'] });
  assert.deepEqual(db.connections[0], { addresses: undefined, after: ['PING'] });
  const metrics = await (await fetch(`${lb.url('admin')}/metrics`)).text();
  assert.match(metrics, new RegExp(`^lb_backend_up\\{service="app",backend="127.0.0.1:${web.port}"\\} 1$`, 'm'));
  assert.match(metrics, new RegExp(`^lb_backend_up\\{service="db",backend="127.0.0.1:${db.port}"\\} 1$`, 'm'));
});

test('TCP with proxyProtocol v2: the server reads the client address and port and lb\'s, then the client bytes', async (t) => {
  const server = await proxyReadingServer(t, 'tcp');
  const lb = await startLb(t, lbYaml(`
routers: { db: { entrypoint: db, service: db } }
services: { db: { proxyProtocol: v2, servers: [ { address: "127.0.0.1:${server.port}" } ] } }
`, { web: false, entrypoints: { db: 'protocol: tcp' } }));
  const reply = await rawRequest(lb.port('db'), 'query', 1_000, '127.0.0.2');
  assert.equal(reply.text, 'query');
  assert.equal(server.connections.length, 1);
  const { addresses, after } = server.connections[0]!;
  assert.deepEqual(after, ['query']);
  assert.equal(addresses!.source.address, '127.0.0.2');
  assert.deepEqual(addresses!.destination, { address: '127.0.0.1', port: lb.port('db') });
});

test('a WebSocket upgrade to a service with proxyProtocol opens its connection with the client\'s header', async (t) => {
  const server = await proxyReadingServer(t, 'http');
  const lb = await startLb(t, lbYaml(`
routers: { all: { entrypoint: web, service: app } }
services: { app: { proxyProtocol: v2, servers: [ { url: "http://127.0.0.1:${server.port}" } ] } }
`));
  const socket = connect({ port: lb.port('web'), host: '127.0.0.1', localAddress: '127.0.0.2' });
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.write('GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  await eventually(() => text.includes('101 Switching Protocols'), 'the 101');
  socket.write('ping');
  await eventually(() => text.endsWith('echo ping'), 'the echo through the tunnel');
  assert.deepEqual(server.connections.map((c) => [c.after, c.addresses?.source]), [[['/ws'], { address: '127.0.0.2', port: socket.localPort }]]);
  socket.destroy();
});
