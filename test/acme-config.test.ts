// lb.yaml's ACME keys: an entrypoint's tls.acme must name a defined resolver, backoff.max is at
// least backoff.min, and caFile is a readable PEM file; each is an error with the key path and
// the lb.yaml position, before anything starts (so `lb validate` finds it).
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

test('tls.acme naming no resolver, a backoff.max below backoff.min and an unreadable caFile are config errors', () => {
  const message = problems(`
entrypoints:
  websecure: { address: "127.0.0.1:0", protocol: https, tls: { acme: lee } }
acme:
  le: { directory: "https://acme.example/dir", storage: /tmp/acme, backoff: { min: 1m, max: 10s } }
`);
  assert.match(message, /entrypoints\.websecure\.tls\.acme: ACME resolver "lee" is not defined under acme \(did you mean "le"\?\)/);
  assert.match(message, /acme\.le\.backoff\.max: must be at least backoff\.min/);
  assert.match(problems('acme: { le: { directory: "http://acme.example/dir", storage: /tmp/a } }'), /acme\.le\.directory: expected the https:\/\/ URL/);
  assert.match(problems('acme: { le: { directory: "https://acme.example/dir" } }'), /acme\.le.*storage/);
  assert.equal(problems('acme: { le: { directory: "https://acme.example/dir", storage: /tmp/a, challenge: tls-alpn-01 } }'), '');
  assert.match(problems('acme: { le: { directory: "https://acme.example/dir", storage: /tmp/a, caFile: /nonexistent/ca.pem } }'), /lb\.yaml:1:\d+: acme\.le\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT/);
  assert.match(problems(`acme: { le: { directory: "https://acme.example/dir", storage: /tmp/a, caFile: ${new URL(import.meta.url).pathname} } }`), /acme\.le\.caFile: .* holds no PEM certificate/);
});
