import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { rawRequest, statusOf } from './helpers/raw-http.js';
import { startBackend } from './helpers/servers.js';

test('HEAD, 204 and 304 responses carry no body, and keep-alive survives them', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/204') return void res.writeHead(204).end();
    if (req.url === '/304') return void res.writeHead(304, { etag: '"v1"' }).end();
    res.writeHead(200, { 'content-length': '1234', 'content-type': 'text/plain' });
    res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
  });
  const lb = await startLb(t, oneServiceConfig(backend.url));
  // Pipelined on one connection: any stray body byte would corrupt the next response.
  const pipelined =
    'HEAD /file HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /204 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /304 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /file HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
  const { text } = await rawRequest(lb.port('web'), pipelined, 5_000);
  const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.deepEqual(responses.map(statusOf), [200, 204, 304, 200]);
  assert.match(responses[0]!, /content-length: 1234\r\n/i, 'HEAD keeps the length of the body it does not send');
  assert.ok(responses[0]!.endsWith('\r\n\r\n'), 'HEAD has no body');
  assert.ok(responses[1]!.endsWith('\r\n\r\n'), '204 has no body');
  assert.match(responses[2]!, /etag: "v1"/i);
  assert.ok(responses[3]!.endsWith('x'.repeat(1234)));
});
