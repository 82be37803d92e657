import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { eventually, within } from './helpers/wait.js';

const token = 'a-long-enough-admin-token';

test('with admin.token, the dashboard and /api need it; /metrics and /healthz do not', async (t) => {
  const lb = await startLb(t, lbYaml('', { admin: `token: "${token}"` }));
  const status = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${lb.url('admin')}${path}`, { headers });
    await res.body.text();
    return res.statusCode;
  };
  assert.equal(await status('/api/state'), 401);
  assert.equal(await status('/'), 401);
  assert.equal(await status('/api/state', { authorization: 'Bearer wrong-token-of-some-length' }), 401);
  assert.equal(await status('/api/state', { authorization: `Bearer ${token}` }), 200);
  assert.equal(await status(`/?token=${token}`), 200);
  assert.equal(await status('/metrics'), 200);
  assert.equal(await status('/healthz'), 200);
});

test('/api/events streams the state, and again when a server changes health', async (t) => {
  let healthy = true;
  const backend = await startBackend(t, (req, res) => res.writeHead(req.url === '/health' && !healthy ? 500 : 200).end('ok'));
  const lb = await startLb(t, lbYaml(`
routers: { r: { entrypoint: web, service: svc } }
services: { svc: { healthCheck: { path: /health, interval: 200ms, timeout: 100ms, fall: 1 }, servers: [ { url: "${backend.url}" } ] } }
`));
  const res = await request(`${lb.url('admin')}/api/events`);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  const states: Array<{ services: Array<{ servers: Array<{ state: string }> }> }> = [];
  let buffer = '';
  const done = (async () => {
    for await (const chunk of res.body) {
      buffer += chunk.toString();
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n').find((l) => l.startsWith('data: '));
        if (data) states.push(JSON.parse(data.slice(6)));
        const seenUp = states.findIndex((s) => s.services[0]?.servers[0]?.state === 'up');
        if (seenUp >= 0 && states.slice(seenUp).some((s) => s.services[0]?.servers[0]?.state === 'down')) return;
      }
    }
  })();
  await eventually(() => states.some((s) => s.services[0]?.servers[0]?.state === 'up'), 'an "up" state to be streamed');
  healthy = false;
  await within(done, 'a "down" state to be streamed', 5_000);
  res.body.destroy();
  assert.ok(states.length >= 2, 'the first state, then the change');
  assert.equal(states.at(-1)!.services[0]!.servers[0]!.state, 'down');
});
