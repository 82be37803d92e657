// docs/metrics.md and the metrics lb registers name the same families, in the style of fastify's
// test that keeps Errors.md in sync with its catalogue.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Metrics } from '../src/metrics/metrics.js';

const doc = readFileSync(new URL('../docs/metrics.md', import.meta.url), 'utf8');

/** The metric names in the first cell of each table row: `lb_x`, or a family prefix such as `process_*`. */
const documented = [...doc.matchAll(/^\| ((?:`[a-z_]+\*?`(?:, )?)+) \|/gm)].flatMap((match) => [...match[1]!.matchAll(/`([a-z_]+\*?)`/g)].map((name) => name[1]!));

test('every registered metric is documented in docs/metrics.md, and every documented one is registered', async () => {
  // A single process registers every family ('all'); workers and the primary split the same set.
  const registered = (await new Metrics('all').registry.getMetricsAsJSON()).map((metric) => metric.name);
  assert.ok(registered.length > 20, `only ${registered.length} metrics registered`);
  const matches = (pattern: string, name: string) => (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern);
  assert.deepEqual(registered.filter((name) => !documented.some((pattern) => matches(pattern, name))).sort(), [], 'registered but not in docs/metrics.md');
  assert.deepEqual(documented.filter((pattern) => !registered.some((name) => matches(pattern, name))).sort(), [], 'in docs/metrics.md but not registered');
});
