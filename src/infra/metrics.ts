/**
 * A small Prometheus registry: counters and histograms that code updates as things happen, and
 * gauges (or counters kept elsewhere, such as the append writer's) read when `/metrics` is scraped.
 * `render()` produces the text exposition format (version 0.0.4).
 *
 * @example
 * const metrics = new Metrics();
 * const errors = metrics.counter("ds_provider_errors_total", "Provider calls that failed.", ["provider", "code"]);
 * errors.inc({ provider: "openai", code: "rate_limited" });
 * metrics.gauge("ds_websocket_connections", "Open WebSockets.", () => sockets.size);
 * response.body = await metrics.render();
 */

/** The content type of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Seconds buckets for durations from milliseconds (a NOTIFY) to many minutes (an agent run). */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export type Labels = Record<string, string>;

/** What a read-at-scrape metric returns: one value, or one value per label set. */
export type Sample = number | Array<{ labels: Labels; value: number }>;

interface Metric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  lines(): Promise<string[]>;
}

/** A counter updated in place. */
export interface Counter {
  inc(labels?: Labels, value?: number): void;
}

/** A histogram updated in place. */
export interface Histogram {
  observe(labels: Labels, value: number): void;
}

const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export class Metrics {
  #metrics = new Map<string, Metric>();

  /** A counter that code increments; `labelNames` documents (and checks) the labels it is given. */
  counter(name: string, help: string, labelNames: string[] = []): Counter {
    const values = new Map<string, { labels: Labels; value: number }>();
    this.#add({ name, help, type: "counter", lines: async () => [...values.values()].map((entry) => line(name, entry.labels, entry.value)) });
    return {
      inc: (labels = {}, value = 1) => {
        checkLabels(name, labelNames, labels);
        const key = labelKey(labels);
        const entry = values.get(key) ?? { labels, value: 0 };
        entry.value += value;
        values.set(key, entry);
      },
    };
  }

  /** A gauge read when scraped. `read` may be async (a database query); a failure omits the gauge from that scrape. */
  gauge(name: string, help: string, read: () => Sample | Promise<Sample>): void {
    this.#add({ name, help, type: "gauge", lines: () => readLines(name, read) });
  }

  /** A counter kept elsewhere (it only ever grows), read when scraped. */
  counterFrom(name: string, help: string, read: () => Sample | Promise<Sample>): void {
    this.#add({ name, help, type: "counter", lines: () => readLines(name, read) });
  }

  /** A histogram with cumulative `buckets` (upper bounds, ascending), plus `_sum` and `_count`. */
  histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
    const series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
    this.#add({
      name,
      help,
      type: "histogram",
      lines: async () =>
        [...series.values()].flatMap((entry) => [
          ...buckets.map((bound, i) => line(`${name}_bucket`, { ...entry.labels, le: formatNumber(bound) }, entry.counts[i]!)),
          line(`${name}_bucket`, { ...entry.labels, le: "+Inf" }, entry.count),
          line(`${name}_sum`, entry.labels, entry.sum),
          line(`${name}_count`, entry.labels, entry.count),
        ]),
    });
    return {
      observe: (labels, value) => {
        checkLabels(name, labelNames, labels);
        const key = labelKey(labels);
        let entry = series.get(key);
        if (!entry) series.set(key, (entry = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 }));
        for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]!) entry.counts[i]!++;
        entry.sum += value;
        entry.count++;
      },
    };
  }

  /** Every metric in the text exposition format. */
  async render(): Promise<string> {
    const blocks = await Promise.all(
      [...this.#metrics.values()].map(async (metric) => {
        const lines = await metric.lines();
        return [`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${metric.type}`, ...lines].join("\n");
      }),
    );
    return blocks.join("\n") + "\n";
  }

  #add(metric: Metric) {
    if (!NAME_PATTERN.test(metric.name)) throw new Error(`metric name ${JSON.stringify(metric.name)} is not a valid Prometheus name`);
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`);
    this.#metrics.set(metric.name, metric);
  }
}

async function readLines(name: string, read: () => Sample | Promise<Sample>): Promise<string[]> {
  let sample: Sample;
  try {
    sample = await read();
  } catch {
    // A metric that cannot be read right now (the database is restarting) is left out, not faked.
    return [];
  }
  if (typeof sample === "number") return [line(name, {}, sample)];
  return sample.map((entry) => line(name, entry.labels, entry.value));
}

function checkLabels(name: string, allowed: string[], labels: Labels) {
  for (const key of Object.keys(labels)) if (!allowed.includes(key)) throw new Error(`metric ${name} has no label ${key}`);
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

function line(name: string, labels: Labels, value: number): string {
  const entries = Object.entries(labels);
  const rendered = entries.length === 0 ? "" : `{${entries.map(([key, v]) => `${key}="${escapeLabel(v)}"`).join(",")}}`;
  return `${name}${rendered} ${formatNumber(value)}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
