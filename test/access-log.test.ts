import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { formatAccessEntry } from '../src/metrics/access-log.js';
import { lbYaml } from './helpers/config.js';
import { startLb } from './helpers/lb.js';
import { namedBackend } from './helpers/servers.js';

/** lb with access logs to a new file, and one router (`match`, if given) to a backend. */
async function loggingLb(t: TestContext, match = '') {
  const backend = await namedBackend(t, 'hello');
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const lb = await startLb(t, lbYaml(`
accessLog: { enabled: true, path: "${file}" }
routers: { app: { entrypoint: web, ${match ? `match: ${match}, ` : ''}service: app } }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`));
  return { lb, file, backend };
}

test('access logs are JSON lines with the request, the outcome and where it went', async (t) => {
  const { lb, file, backend } = await loggingLb(t, '{ host: "app.example.com" }');
  await (await request(`${lb.url('web')}/greet?secret=x`, { method: 'POST', headers: { host: 'app.example.com' }, body: 'twelve bytes' })).body.text();
  await (await request(`${lb.url('web')}/`, { headers: { host: 'other.example.com' } })).body.text();
  await lb.stop(100);
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  const [served, unrouted] = lines;
  assert.match(String(served!.time), /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(
    { ...served, time: undefined, durationMs: undefined },
    { time: undefined, durationMs: undefined, client: '127.0.0.1', method: 'POST', host: 'app.example.com', path: '/greet', status: 200, bytesIn: 12, bytesOut: 5, router: 'app', service: 'app', backend: `127.0.0.1:${backend.port}`, retries: 0, termination: '--' },
  );
  assert.equal(typeof served!.durationMs, 'number');
  assert.equal(unrouted!.status, 404);
  assert.equal(unrouted!.error, 'no_route');
});

test('an access line reaches the file within about a second, without waiting for more traffic', async (t) => {
  const { lb, file } = await loggingLb(t);
  await (await request(`${lb.url('web')}/once`)).body.text();
  const deadline = Date.now() + 3_000;
  let text = '';
  while (Date.now() < deadline && !text.includes('/once')) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  }
  assert.match(text, /"path":"\/once"/, 'the line is still buffered after 3s');
});

test('access lines are valid JSON whatever the client sent', () => {
  const tricky = ['quote " inside', 'back\\slash', 'tab\tand\nnewline', 'ctrl \u0001', 'ünïcödé', '\u2028', ''];
  for (const text of tricky) {
    const entry = { client: '::1', method: 'GET', host: text, path: `/${text}`, status: 200, bytesIn: 0, bytesOut: 5, durationMs: 0.25, router: 'r', service: 's', backend: 'b:1', retries: 0, termination: '--' as const, error: text || undefined };
    const line = formatAccessEntry(entry);
    assert.ok(line.endsWith('}\n'));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual({ ...parsed, time: undefined }, { ...JSON.parse(JSON.stringify(entry)), time: undefined });
  }
});
