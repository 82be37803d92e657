import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetryBudget } from '../src/proxy/http/retry-budget.js';

test('retries stay under 20% of requests when every request wants one', () => {
  const budget = new RetryBudget(20, 100, () => 0);
  let retries = 0;
  for (let i = 0; i < 10_000; i++) {
    budget.onRequest();
    if (budget.tryRetry()) retries++;
  }
  assert.ok(retries <= 2001, `${retries} retries for 10,000 requests`);
  assert.ok(retries >= 1995, `${retries} retries: the budget should be used`);
});

test('a quiet period cannot fund a retry storm', () => {
  let now = 0;
  const budget = new RetryBudget(20, 100, () => now);
  for (let i = 0; i < 100_000; i++) budget.onRequest();
  now += 3_600_000;
  let burst = 0;
  while (budget.tryRetry()) burst++;
  assert.equal(burst, 100);
});

test('a quiet service may still retry about once per second', () => {
  let now = 0;
  const budget = new RetryBudget(0, 10, () => now);
  assert.equal(budget.tryRetry(), true, 'the starting token');
  assert.equal(budget.tryRetry(), false);
  now += 999;
  assert.equal(budget.tryRetry(), false);
  now += 1;
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), false);
});
