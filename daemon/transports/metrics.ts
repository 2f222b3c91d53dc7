// A small metrics registry rendered in the Prometheus text exposition format
// (version 0.0.4: `# HELP`, `# TYPE`, `name{label="v"} value` lines). Counters
// and histograms are kept here; gauges and other parts' counters (the serial
// ports, the queue, the ledger) are read at scrape time by collectors, so
// nothing has to push into the registry on every change.

export type Labels = Record<string, string>;

// Label values escape backslash, double quote and newline (exposition format §"Text format details").
function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",")}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines;
  }
}

/** Cumulative buckets, as Prometheus histograms are (each `le` counts everything at or below it). */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) this.counts[i]!++;
  }

  get observations(): number {
    return this.count;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{le="${num(b)}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${num(this.sum)}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

/** One gauge family read at scrape time: samples with labels. */
export interface GaugeSample {
  labels?: Labels;
  value: number;
}

export interface Collector {
  name: string;
  help: string;
  type?: "gauge" | "counter";
  collect(): GaugeSample[];
}

export class MetricsRegistry {
  private readonly counters: Counter[] = [];
  private readonly histograms: Histogram[] = [];
  private readonly collectors: Collector[] = [];
  /** Whole pre-rendered blocks from other parts (e.g. renderSerialMetrics). */
  private readonly renderers: (() => string)[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter(name, help);
    this.counters.push(c);
    return c;
  }

  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const h = new Histogram(name, help, bounds);
    this.histograms.push(h);
    return h;
  }

  /** A gauge (or a counter kept elsewhere) read at every scrape. */
  collect(collector: Collector): void {
    this.collectors.push(collector);
  }

  /** A block of exposition text rendered elsewhere, appended as is. */
  addRenderer(render: () => string): void {
    this.renderers.push(render);
  }

  render(): string {
    const lines: string[] = [];
    for (const c of this.counters) lines.push(...c.render());
    for (const h of this.histograms) lines.push(...h.render());
    for (const c of this.collectors) {
      let samples: GaugeSample[];
      try {
        samples = c.collect();
      } catch {
        // A broken source is visible as a missing series plus the error counter, not a failed scrape.
        samples = [];
        this.scrapeErrors.inc({ collector: c.name });
      }
      lines.push(`# HELP ${c.name} ${c.help}`, `# TYPE ${c.name} ${c.type ?? "gauge"}`);
      for (const s of samples) lines.push(`${c.name}${labelText(s.labels ?? {})} ${num(s.value)}`);
    }
    lines.push(...this.scrapeErrors.render());
    let text = lines.join("\n") + "\n";
    for (const r of this.renderers) {
      try {
        const block = r();
        text += block.endsWith("\n") || block === "" ? block : `${block}\n`;
      } catch {
        this.scrapeErrors.inc({ collector: "renderer" });
      }
    }
    return text;
  }

  private readonly scrapeErrors = new Counter("sealbox_metrics_collect_errors_total", "Metric sources that failed during a scrape.");
}

/** Buckets in seconds for latencies from a millisecond to a minute. */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;
