// lb.yaml's ACME keys: an entrypoint's tls.acme must name a defined resolver, and backoff.max is
// at least backoff.min; both are errors with the key path, before anything starts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';

function problems(yaml: string): string {
  try {
    parseConfig(yaml, 'lb.yaml');
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

test('tls.acme naming no resolver, and a backoff.max below backoff.min, are config errors', () => {
  const message = problems(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: { acme: lee } }
acme:
  le: { directory: "https://acme.example/dir", storage: /tmp/acme, backoff: { min: 1m, max: 10s } }
`);
  assert.match(message, /entrypoints\.websecure\.tls\.acme: ACME resolver "lee" is not defined under acme \(did you mean "le"\?\)/);
  assert.match(message, /acme\.le\.backoff\.max: must be at least backoff\.min/);
  assert.match(problems('acme: { le: { directory: "http://acme.example/dir", storage: /tmp/a } }'), /acme\.le\.directory: expected the https:\/\/ URL/);
  assert.match(problems('acme: { le: { directory: "https://acme.example/dir" } }'), /acme\.le.*storage/);
  assert.equal(problems('acme: { le: { directory: "https://acme.example/dir", storage: /tmp/a, challenge: tls-alpn-01 } }'), '');
});
