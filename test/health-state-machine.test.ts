import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ejectionAllowance, ServerHealth } from '../src/health/server-health.js';

const check = { rise: 2, fall: 3 };

test('a checked server starts down and joins on its first passing check', () => {
  const health = new ServerHealth(true);
  assert.equal(health.up, false);
  assert.equal(health.recordCheck(false, 'ECONNREFUSED', 0, check), false);
  assert.equal(health.recordCheck(true, 'HTTP 200', 1, check), true, 'rise does not apply to a new server');
  assert.equal(health.up, true);
});

test('fall failures in a row take a server down; rise passes bring it back', () => {
  const health = new ServerHealth(true);
  health.recordCheck(true, 'ok', 0, check);
  health.recordCheck(false, 'x', 1, check);
  health.recordCheck(false, 'x', 2, check);
  health.recordCheck(true, 'ok', 3, check);
  assert.equal(health.up, true, 'a pass resets the failure streak');
  health.recordCheck(false, 'x', 4, check);
  health.recordCheck(false, 'x', 5, check);
  assert.equal(health.up, true);
  assert.equal(health.recordCheck(false, 'x', 6, check), true);
  assert.equal(health.up, false);
  assert.equal(health.recordCheck(true, 'ok', 7, check), false, 'one pass is not enough to recover');
  assert.equal(health.recordCheck(true, 'ok', 8, check), true);
  assert.equal(health.up, true);
  assert.deepEqual(health.lastCheck, { ok: true, detail: 'ok', at: 8 });
});

test('a server without checks is up from the start', () => {
  assert.equal(new ServerHealth(false).up, true);
});

test('ejections back off: 30 s × count, capped at 300 s', () => {
  const health = new ServerHealth(false);
  const policy = { baseEjectionMs: 30_000, maxEjectionMs: 300_000 };
  const durations = Array.from({ length: 12 }, (_, i) => health.eject(i * 1_000_000, policy) - i * 1_000_000);
  assert.deepEqual(durations.slice(0, 4), [30_000, 60_000, 90_000, 120_000]);
  assert.equal(durations[9], 300_000);
  assert.equal(durations[11], 300_000);
  assert.equal(health.isEjected(11 * 1_000_000 + 299_999), true);
  assert.equal(health.isEjected(11 * 1_000_000 + 300_000), false);
});

test('a passing active check ends an ejection early', () => {
  const health = new ServerHealth(true);
  health.recordCheck(true, 'ok', 0, check);
  health.eject(1000, { baseEjectionMs: 30_000, maxEjectionMs: 300_000 });
  assert.equal(health.isEjected(2000), true);
  health.recordCheck(true, 'ok', 2000, check);
  assert.equal(health.isEjected(2001), false);
});

test('at most half a pool may be ejected, but always one', () => {
  assert.equal(ejectionAllowance(1, 50), 1);
  assert.equal(ejectionAllowance(2, 50), 1);
  assert.equal(ejectionAllowance(3, 50), 1);
  assert.equal(ejectionAllowance(4, 50), 2);
  assert.equal(ejectionAllowance(10, 50), 5);
  assert.equal(ejectionAllowance(10, 0), 1);
});
