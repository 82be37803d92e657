// Pipelined requests on one client connection are served one after another over one server
// connection: each response returns its connection to the pool before the next request is read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

test('five pipelined GETs reach the server over one connection', { timeout: 30_000 }, async (t) => {
  const connections = new Set<number>();
  const backend = await startBackend(t, (req, res) => {
    connections.add(req.socket.remotePort!);
    res.end(`${req.url}`);
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  const pipelined = [1, 2, 3, 4, 5].map((n) => `GET /${n} HTTP/1.1\r\nHost: a\r\n${n === 5 ? 'Connection: close\r\n' : ''}\r\n`).join('');
  const { text } = await rawRequest(lb.port('web'), pipelined, 5_000);
  const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.deepEqual(responses.map(statusOf), [200, 200, 200, 200, 200], text);
  assert.deepEqual(responses.map((r) => r.slice(r.indexOf('\r\n\r\n') + 4)), ['/1', '/2', '/3', '/4', '/5']);
  assert.equal(connections.size, 1, `the server saw ${connections.size} connections`);
});
