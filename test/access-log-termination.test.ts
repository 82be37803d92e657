// Every access-log line says who ended the exchange and in which phase (`termination`), and the
// three upstream timeouts are told apart in `error`.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { startLb } from './helpers/lb.js';
import { closedPort, namedBackend, startBackend, startTcpServer } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

test('access lines carry a termination code for each way an exchange ends', async (t) => {
  const ok = await namedBackend(t, 'ok');
  let heldRequests = 0;
  const silent = await startBackend(t, () => heldRequests++);
  const stalling = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('part of it');
  });
  const resetting = await startTcpServer(t, (socket) => socket.once('data', () => socket.resetAndDestroy()));
  const malformed = await startTcpServer(t, (socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n')));
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const route = (name: string) => `  ${name}: { entrypoint: web, match: { host: "app.test", pathPrefix: "/${name}" }, service: ${name} }`;
  const service = (name: string, url: string, settings = '') => `  ${name}: { retries: 0, ${settings} servers: [ { url: "${url}" } ] }`;
  const lb = await startLb(t, `
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
accessLog: { enabled: true, path: "${file}" }
routers:
${['ok', 'slow', 'stall', 'refused', 'reset', 'malformed', 'abandoned'].map(route).join('\n')}
services:
${service('ok', ok.url)}
${service('slow', silent.url, 'timeouts: { responseHeaders: 200ms },')}
${service('stall', stalling.url, 'timeouts: { idle: 200ms },')}
${service('refused', `http://127.0.0.1:${await closedPort()}`)}
${service('reset', `http://127.0.0.1:${resetting.port}`)}
${service('malformed', `http://127.0.0.1:${malformed.port}`)}
${service('abandoned', silent.url)}
`);
  const get = async (path: string, host = 'app.test') => {
    const res = await request(`${lb.url('web')}${path}`, { headers: { host } });
    await res.body.text().catch(() => undefined);
  };
  for (const path of ['/ok', '/slow', '/stall', '/refused', '/reset', '/malformed']) await get(path);
  await get('/ok', 'other.test');
  // A client that gives up before the response head.
  const abandoned = new AbortController();
  const pending = request(`${lb.url('web')}/abandoned`, { headers: { host: 'app.test' }, signal: abandoned.signal }).catch(() => undefined);
  await eventually(() => heldRequests === 2, 'the backend to hold the abandoned request');
  abandoned.abort();
  await pending;
  await eventually(() => lb.control.snapshot.services.get('abandoned')!.backends[0]!.inFlight === 0, 'lb to see the client leave');
  await lb.stop(100);

  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const seen = Object.fromEntries(lines.map((line) => [line.host === 'other.test' ? 'unrouted' : String(line.path).slice(1), [line.status, line.termination, line.error ?? null]]));
  assert.deepEqual(seen, {
    ok: [200, '--', null],
    slow: [504, 'sH', 'response_timeout'],
    stall: [200, 'sD', 'body_timeout'],
    refused: [502, 'SC', 'connect_refused'],
    reset: [502, 'SH', 'reset'],
    malformed: [502, 'PH', 'bad_response'],
    unrouted: [404, 'PR', 'no_route'],
    abandoned: [499, 'CH', 'client_abort'],
  });
});
