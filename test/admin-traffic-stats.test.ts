import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import type { TrafficStats } from '../src/metrics/traffic.js';
import { lbYaml } from './helpers/config.js';
import { spawnLb, type LbProcess } from './helpers/lb-process.js';
import { closedPort, startBackend, startTcpServer } from './helpers/servers.js';
import { eventually } from './helpers/wait.js';

// /api/stats, what the dashboard draws: per server and per service, requests, answers by status
// class and a latency histogram that accounts for every request; gateway failures with the last
// one; open connections per entrypoint. The same in one process and summed over workers.

async function stats(lb: LbProcess): Promise<TrafficStats & { latencyBaseSeconds: number }> {
  const res = await request(`http://127.0.0.1:${lb.port('admin')}/api/stats`);
  return (await res.body.json()) as TrafficStats & { latencyBaseSeconds: number };
}

function tcpRoundTrip(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.end('ping'));
    socket.on('data', () => undefined);
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.setTimeout(5_000, () => socket.destroy());
  });
}

for (const workers of [1, 2]) {
  test(`/api/stats counts each server's answers, latency and failures (workers: ${workers})`, { timeout: 60_000 }, async (t) => {
    const ok = await startBackend(t, (req, res) => res.writeHead(req.url === '/missing' ? 404 : req.url === '/broken' ? 500 : 200).end('x'));
    const echo = await startTcpServer(t, (socket) => socket.pipe(socket));
    const refusing = await closedPort();
    const lb = await spawnLb(t, lbYaml(`
workers: ${workers}
routers:
  app: { entrypoint: web, service: app }
  db: { entrypoint: db, service: db }
services:
  app: { servers: [ { url: "${ok.url}" } ] }
  db: { servers: [ { address: "127.0.0.1:${echo.port}" }, { address: "127.0.0.1:${refusing}" } ] }
`, { entrypoints: { db: 'protocol: tcp' } }));
    const web = `http://127.0.0.1:${lb.port('web')}`;
    const paths = [...Array<string>(20).fill('/'), ...Array<string>(5).fill('/missing'), ...Array<string>(3).fill('/broken')];
    for (const path of paths) await (await request(`${web}${path}`)).body.text();
    for (let i = 0; i < 4; i++) await tcpRoundTrip(lb.port('db'));
    const id = ok.url.replace('http://', '');
    const final = await eventually(async () => {
      const s = await stats(lb);
      return s.servers.app?.[id]?.requests === paths.length && s.services.db?.requests === 4 ? s : undefined;
    }, 'the traffic to be reported');
    const server = final.servers.app![id]!;
    assert.deepEqual(server.responses, [0, 20, 0, 5, 3]);
    assert.equal(server.errors, 3);
    assert.equal(server.latency.reduce((a, b) => a + b, 0), paths.length, 'every request is in one latency bucket');
    assert.ok(final.latencyBaseSeconds > 0);
    assert.deepEqual(final.services.app!.responses, [0, 20, 0, 5, 3]);
    const dead = final.servers.db![`127.0.0.1:${refusing}`]!;
    assert.ok(dead.failures >= 1 && dead.failures < 5, `the refusing server failed ${dead.failures} time(s), each connection retried on the other`);
    assert.equal(dead.consecutiveFailures, dead.failures);
    assert.equal(dead.lastFailure?.kind, 'connect_refused');
    assert.equal(final.servers.db![`127.0.0.1:${echo.port}`]!.requests, 4);
    assert.equal(typeof final.entrypoints.web, 'number');
  });
}
