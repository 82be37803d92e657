// A WebSocket client that leaves while lb waits for a slow server's 101: lb sees the client's FIN
// (or reset) and closes the server's connection at once, not when the response timeout ends.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { startTcpServer } from './helpers/servers.js';
import { upgradeRequest } from './helpers/upgrade-request.js';
import { eventually } from './helpers/wait.js';

for (const leave of ['end', 'resetAndDestroy'] as const) {
  test(`a client that leaves (${leave}) before the server's 101 gets the server's connection closed at once`, { timeout: 20_000 }, async (t) => {
    const upstream: Array<{ closedAt: number | undefined }> = [];
    const { port } = await startTcpServer(t, (socket) => {
      const seen = { closedAt: undefined as number | undefined };
      // Reads the upgrade request and never answers it.
      socket.once('data', () => upstream.push(seen));
      socket.on('error', () => undefined);
      socket.once('close', () => (seen.closedAt = performance.now()));
    });
    const lb = await startLb(t, oneServiceConfig(`http://127.0.0.1:${port}`, 'timeouts: { responseHeaders: 30s },'));
    const client: Socket = connect(lb.port('web'), '127.0.0.1', () => client.write(upgradeRequest('/ws')));
    client.on('error', () => undefined);
    t.after(() => client.destroy());
    await eventually(() => upstream.length === 1, 'the upgrade request at the server');
    const left = performance.now();
    client[leave]();
    const closedAt = await eventually(() => upstream[0]!.closedAt, 'the server connection closed', 5_000);
    assert.ok(closedAt - left < 2_000, `closed ${Math.round(closedAt - left)}ms after the client left`);
    await eventually(() => lb.control.snapshot.services.get('svc')!.backends[0]!.inFlight === 0, 'lb to let go of the upgrade');
  });
}
