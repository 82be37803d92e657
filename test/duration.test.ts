import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../src/config/duration.js';

test('durations parse into milliseconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('1m'), 60000);
  assert.equal(parseDuration('1h'), 3600000);
  assert.equal(parseDuration('1m30s'), 90000);
  assert.equal(parseDuration('1.5s'), 1500);
});

test('malformed durations are refused', () => {
  for (const text of ['', '5', 's', '5 seconds', '-1s', '5d', '1s1']) assert.equal(parseDuration(text), undefined, text);
});

test('durations format back into the shortest unit', () => {
  assert.equal(formatDuration(90000), '90s');
  assert.equal(formatDuration(3600000), '1h');
  assert.equal(formatDuration(250), '250ms');
});
