import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultServiceConfig } from '../src/config/normalise.js';
import type { ServiceConfig } from '../src/config/types.js';
import { chooseService } from '../src/control/service-split.js';
import { buildSnapshot } from '../src/control/snapshot.js';

const server = { scheme: 'http' as const, host: '127.0.0.1', port: 3001, weight: 1 };

function weighted(name: string, ...children: string[]): ServiceConfig {
  return { ...defaultServiceConfig(name, 'http'), weighted: { services: children.map((child) => ({ name: child, weight: 1 })) } };
}

test('services that reach themselves through weighted services (as labels may write them) end in a pool without servers, never in a loop', () => {
  const services = new Map<string, ServiceConfig>([
    ['a', weighted('a', 'b')],
    ['b', weighted('b', 'a', 'plain')],
    ['plain', defaultServiceConfig('plain', 'http', [server])],
    ['fine', weighted('fine', 'plain', 'missing')],
  ]);
  const snapshot = buildSnapshot(new Map(), { routers: new Map(), services }, undefined);
  const a = snapshot.services.get('a')!;
  const b = snapshot.services.get('b')!;
  assert.ok(a.split, 'a is built first and names b');
  assert.equal(b.split, undefined, 'b reaches itself through a: it gets no split, and answers 503');
  for (let i = 0; i < 4; i++) assert.equal(chooseService(a, { clientIp: '::1' }).service, b);

  // A missing service is an empty pool, skipped while another can serve.
  const fine = snapshot.services.get('fine')!;
  assert.equal(snapshot.services.get('missing')!.backends.length, 0);
  for (let i = 0; i < 4; i++) assert.equal(chooseService(fine, { clientIp: '::1' }).service.name, 'plain');
});
