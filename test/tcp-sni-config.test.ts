// The rules for routers on a TCP entrypoint: they match only sni, at most one has no match (the
// fallback), and routers with the same names are shadowed, in lb.yaml and from labels alike.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { normaliseRouter } from '../src/config/normalise.js';
import { routerSchema } from '../src/config/schema.js';
import { buildSnapshot } from '../src/control/snapshot.js';
import { ConfigInvalidError } from '../src/errors.js';
import { lbYaml } from './helpers/config.js';

function errorsOf(routers: string): string[] {
  try {
    parseConfig(lbYaml(`routers:\n${routers}\nservices: { s: { servers: [] }, h: { servers: [] } }\n`, { entrypoints: { tls: 'protocol: tcp' } }), 'lb.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

test('a TCP entrypoint takes several sni routers and one fallback; a second fallback, host on TCP or sni on HTTP are errors', () => {
  assert.deepEqual(errorsOf(`  a: { entrypoint: tls, service: s, match: { sni: a.example.com } }
  b: { entrypoint: tls, service: s, match: { sni: ["*.example.com", b.test] } }
  any: { entrypoint: tls, service: s }`), []);
  assert.deepEqual(errorsOf(`  one: { entrypoint: tls, service: s }
  two: { entrypoint: tls, service: s }`), ['routers.two.entrypoint: TCP entrypoint "tls" already has router "one" without "match"; an entrypoint takes one fallback router, and the others match "sni"']);
  assert.match(errorsOf('  a: { entrypoint: tls, service: s, match: { pathPrefix: /x } }')[0]!, /^routers\.a\.match\.pathPrefix: a TCP router sees no HTTP request/);
  assert.match(errorsOf('  w: { entrypoint: web, service: h, match: { sni: a.example.com } }')[0]!, /^routers\.w\.match\.sni: sni matches the TLS server name on a TCP entrypoint/);
  assert.match(errorsOf('  a: { entrypoint: tls, service: s, match: { sni: "bad name" } }')[0]!, /^routers\.a\.match\.sni: expected a host name/);
});

test('routers with the same sni names, or a second fallback, are shadowed by the first by name; an overlap is not', () => {
  const router = (name: string, sni?: string[]) => normaliseRouter(name, routerSchema({ entrypoint: 'tls', service: 's', ...(sni ? { match: { sni } } : {}) }, [], [])!);
  const routers = [router('b', ['db.example.com', 'x.test']), router('a', ['X.test', 'db.example.com.']), router('c', ['db.example.com']), router('z'), router('y')];
  const parsed = parseConfig(lbYaml('services: { s: { servers: [] } }', { entrypoints: { tls: 'protocol: tcp' } }), 'lb.yaml');
  const snapshot = buildSnapshot(parsed.entrypoints, { routers: new Map(routers.map((r) => [r.name, r])), services: parsed.services }, undefined);
  assert.deepEqual(snapshot.shadowed.map(({ router, by }) => [router, by]), [['b', 'a'], ['z', 'y']]);
  const routes = snapshot.entrypoints.get('tls')!;
  assert.equal(routes.tcp?.router, 'y', 'the fallback is the first by name');
  assert.equal(routes.sni!.lookup('db.example.com', '/', {})?.router, 'a');
  assert.equal(routes.sni!.lookup('other.test', '/', {})?.router, 'y');
});
