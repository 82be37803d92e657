import type { Metric, Registry } from 'prom-client';

/**
 * Counters and histograms for figures counted on every request. prom-client's own builds a
 * label-hash string and looks it up on every inc() and observe(), even through a cached labels()
 * child; at three updates per request that was 1–2 µs of CPU per request, 7–8 % of throughput
 * on small requests (docs/benchmarks.md). Here the hot path adds to plain fields of a cell,
 * which the caller finds once per label set and keeps; prom-client's registry reads the cells
 * when it is scraped (and sums them across workers), through the same get() its metrics have.
 */

type Labels<T extends string> = Record<T, string>;

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

abstract class CellMetric<T extends string, Cell> {
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  private readonly cells = new Map<string, { labels: Labels<T>; cell: Cell }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly T[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The cell of one label set: the same cell for the same values. */
  cell(labels: Labels<T>): Cell {
    const key = this.labelNames.map((name) => labels[name]).join('\0');
    let entry = this.cells.get(key);
    if (!entry) this.cells.set(key, (entry = { labels: { ...labels }, cell: this.newCell() }));
    return entry.cell;
  }

  protected abstract newCell(): Cell;
  protected abstract values(labels: Labels<T>, cell: Cell): Value[];
  protected abstract zero(cell: Cell): void;

  /** What prom-client's registry formats (and AggregatorRegistry sums). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    for (const { labels, cell } of this.cells.values()) values.push(...this.values(labels, cell));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** registry.resetMetrics(): the cells stay (callers hold them) and start again from zero. */
  reset(): void {
    for (const { cell } of this.cells.values()) this.zero(cell);
  }
}

export class CounterCell {
  value = 0;
}

export class CellCounter<T extends string> extends CellMetric<T, CounterCell> {
  readonly type: 'counter' | 'gauge' = 'counter';

  protected newCell(): CounterCell {
    return new CounterCell();
  }

  protected values(labels: Labels<T>, cell: CounterCell): Value[] {
    return [{ labels, value: cell.value }];
  }

  protected zero(cell: CounterCell): void {
    cell.value = 0;
  }
}

/** A gauge counted the same way: its cells go up and down (open connections). */
export class CellGauge<T extends string> extends CellCounter<T> {
  override readonly type = 'gauge';
}

export class HistogramCell {
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class CellHistogram<T extends string> extends CellMetric<T, HistogramCell> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly T[], private readonly bounds: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
  }

  protected newCell(): HistogramCell {
    return new HistogramCell(this.bounds);
  }

  protected values(labels: Labels<T>, cell: HistogramCell): Value[] {
    const bucket = `${this.name}_bucket`;
    const values: Value[] = [];
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += cell.counts[i]!;
      values.push({ labels: { le, ...labels }, value: cumulative, metricName: bucket });
    });
    values.push(
      { labels: { le: '+Inf', ...labels }, value: cell.count, metricName: bucket },
      { labels, value: cell.sum, metricName: `${this.name}_sum` },
      { labels, value: cell.count, metricName: `${this.name}_count` },
    );
    return values;
  }

  protected zero(cell: HistogramCell): void {
    cell.counts.fill(0);
    cell.sum = 0;
    cell.count = 0;
  }
}
