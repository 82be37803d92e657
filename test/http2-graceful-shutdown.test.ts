// HTTP/2 connections at shutdown and reloads: stopping lb, or a reload that removes the listener,
// sends GOAWAY and lets the streams in flight finish; a reload that changes only routers sends
// nothing, and the next stream on the same connection follows the new routes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { lbYaml } from './helpers/config.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';

async function slowBackend(t: TestContext) {
  let arrived: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => (arrived = resolve));
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/slow') {
      arrived();
      setTimeout(() => res.end('slow done'), 600);
    } else {
      res.end(`fast ${req.headers['x-route'] ?? ''}`);
    }
  });
  return { backend, slowArrived };
}

const everything = '{ all: { entrypoint: h2c, service: app } }';

/** lb.yaml with the h2c entrypoint `h2c` (or without it) and `routers`. */
const config = (url: string, routers = everything, withH2c = true) => lbYaml(`
routers: ${routers}
services: { app: { servers: [ { url: "${url}" } ] } }
`, { entrypoints: withH2c ? { h2c: 'http2: { cleartext: true }' } : {} });

test('stopping lb sends GOAWAY: the stream in flight finishes, no new stream is taken', async (t) => {
  const { backend, slowArrived } = await slowBackend(t);
  const lb = await startLb(t, config(backend.url));
  const session = h2Session(t, `http://127.0.0.1:${lb.port('h2c')}`);
  const goAway = once(session, 'goaway');
  const slow = h2Request(session, { ':path': '/slow', ':authority': 'app.test' });
  await slowArrived;
  const stopped = lb.stop(5000);
  const [code] = (await goAway) as [number];
  assert.equal(code, 0, 'GOAWAY NO_ERROR');
  await assert.rejects(h2Request(session, { ':path': '/after', ':authority': 'app.test' }), 'no new stream after GOAWAY');
  const res = await slow;
  assert.equal(res.status, 200);
  assert.equal(String(res.body), 'slow done');
  await stopped;
});

test('a reload that removes the listener sends GOAWAY and lets the stream finish; one that changes only routers does not', async (t) => {
  const { backend, slowArrived } = await slowBackend(t);
  const first = config(backend.url);
  const lb = await startLb(t, first);
  const port = lb.port('h2c');
  const session = h2Session(t, `http://127.0.0.1:${port}`);
  let goAways = 0;
  session.on('goaway', () => goAways++);
  assert.equal(String((await h2Request(session, { ':path': '/', ':authority': 'app.test' })).body), 'fast ');
  // The same listener, other routers: the next stream on this connection is routed by them.
  await lb.reload(parseConfig(config(backend.url, '{ other: { entrypoint: h2c, match: { host: "other.test" }, service: app } }'), 'test.yaml'));
  assert.equal((await h2Request(session, { ':path': '/', ':authority': 'app.test' })).status, 404);
  assert.equal((await h2Request(session, { ':path': '/', ':authority': 'other.test' })).status, 200);
  assert.equal(goAways, 0);
  await lb.reload(parseConfig(first, 'test.yaml'));
  const slow = h2Request(session, { ':path': '/slow', ':authority': 'app.test' });
  await slowArrived;
  await lb.reload(parseConfig(config(backend.url, '{}', false), 'test.yaml'));
  const res = await slow;
  assert.equal(String(res.body), 'slow done');
  assert.equal(goAways, 1);
});
