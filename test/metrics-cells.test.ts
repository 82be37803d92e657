import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CellCounter, CellGauge, CellHistogram } from '../src/metrics/cells.js';

// The cells replace prom-client's Counter and Histogram on the hot path: the text a scrape reads,
// and the sums across workers, must be the same as prom-client's own for the same observations.

const bounds = [0.001, 0.01, 0.1, 1];
const observations: Array<[string, string, number]> = [
  ['web', 'api', 0.0004],
  ['web', 'api', 0.001],
  ['web', 'api', 0.05],
  ['web', 'static', 7],
  ['admin', 'api', 0.2],
  ['web', 'api', 0.0101],
  ['web', 'quote"d\\', 0.3],
];

function fill(): { cells: Registry; reference: Registry } {
  const cells = new Registry();
  const reference = new Registry();
  const labelNames = ['entrypoint', 'service'] as const;
  const cellCounter = new CellCounter('t_requests_total', 'Requests.', labelNames, cells);
  const cellHistogram = new CellHistogram('t_duration_seconds', 'Durations.', labelNames, bounds, cells);
  const counter = new Counter({ name: 't_requests_total', help: 'Requests.', labelNames, registers: [reference] });
  const histogram = new Histogram({ name: 't_duration_seconds', help: 'Durations.', labelNames, buckets: bounds, registers: [reference] });
  for (const [entrypoint, service, seconds] of observations) {
    cellCounter.cell({ entrypoint, service }).value++;
    cellHistogram.cell({ entrypoint, service }).observe(seconds);
    counter.labels(entrypoint, service).inc();
    histogram.labels(entrypoint, service).observe(seconds);
  }
  return { cells, reference };
}

test('cells scrape as the same text as prom-client Counter and Histogram', async () => {
  const { cells, reference } = fill();
  assert.equal(await cells.metrics(), await reference.metrics());
});

test('cells sum across workers as prom-client metrics do', async () => {
  const workers = [fill(), fill()];
  const summed = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.cells.getMetricsAsJSON())));
  const reference = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.reference.getMetricsAsJSON())));
  const text = await summed.metrics();
  assert.equal(text, await reference.metrics());
  assert.match(text, /t_requests_total\{entrypoint="web",service="api"\} 8/);
});

test('a gauge cell goes up and down and scrapes as a prom-client Gauge', async () => {
  const cells = new Registry();
  const reference = new Registry();
  const open = new CellGauge('t_open', 'Open.', ['entrypoint'] as const, cells).cell({ entrypoint: 'web' });
  const gauge = new Gauge({ name: 't_open', help: 'Open.', labelNames: ['entrypoint'] as const, registers: [reference] });
  for (const step of [1, 1, 1, -1, 1, -1]) {
    open.value += step;
    gauge.labels('web').inc(step);
  }
  const text = await cells.metrics();
  assert.equal(text, await reference.metrics());
  assert.match(text, /# TYPE t_open gauge\nt_open\{entrypoint="web"\} 2\n/);
});

test('reset starts the cells again from zero, and a held cell still counts', async () => {
  const registry = new Registry();
  const counter = new CellCounter('t_total', 'T.', ['entrypoint'] as const, registry);
  const cell = counter.cell({ entrypoint: 'web' });
  cell.value += 5;
  assert.equal(counter.cell({ entrypoint: 'web' }), cell);
  registry.resetMetrics();
  cell.value++;
  assert.match(await registry.metrics(), /t_total\{entrypoint="web"\} 1\n/);
});
