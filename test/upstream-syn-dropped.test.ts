import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { oneServiceConfig, startLb } from './helpers/lb.js';
import { makeNamespace } from './helpers/netns.js';

// A server that never completes the TCP handshake, as a firewall that drops SYNs makes it: only
// timeouts.connect can end the wait. The server is a network namespace of the test's own, whose
// iptables drops every SYN to port 80; the host's rules are not touched.

test('a server whose SYNs are dropped answers 504 connect_timeout after timeouts.connect', { timeout: 30_000 }, async (t) => {
  const ns = makeNamespace(t);
  if (!ns) return;
  ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--syn', '--dport', '80', '-j', 'DROP']);
  const lb = await startLb(t, oneServiceConfig(`http://${ns.address}:80`, 'timeouts: { connect: 500ms }, retries: 0,'));
  const started = performance.now();
  const res = await request(lb.url('web'), { headersTimeout: 10_000 });
  const ms = performance.now() - started;
  await res.body.dump();
  assert.equal(res.statusCode, 504);
  assert.equal(res.headers['lb-error'], 'LB_UPSTREAM_CONNECT_TIMEOUT');
  assert.ok(ms >= 450 && ms < 3_000, `answered after ${ms.toFixed(0)} ms; timeouts.connect is 500 ms`);
  const dropped = ns.exec('iptables', ['-L', 'INPUT', '-v', '-n', '-x']);
  assert.match(dropped, /^\s+[1-9]\d*\s+\d+\s+DROP/m, `the SYNs reached the namespace and were dropped:\n${dropped}`);
});
