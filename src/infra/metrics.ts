import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from "prom-client";

/**
 * The service's Prometheus registry, on `prom-client`: counters and histograms that code updates as
 * things happen, and gauges (or counters kept elsewhere, such as the append writer's) read when
 * `/metrics` is scraped. `render()` produces the text exposition format (version 0.0.4). Each
 * `Metrics` has its own registry (never prom-client's global one), so tests and processes do not share.
 *
 * @example
 * const metrics = new Metrics();
 * const errors = metrics.counter("ds_provider_errors_total", "Provider calls that failed.", ["provider", "code"]);
 * errors.inc({ provider: "openai", code: "rate_limited" });
 * metrics.gauge("ds_websocket_connections", "Open WebSockets.", () => sockets.size);
 * response.body = await metrics.render();
 */

/** The content type of the text exposition format. */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/** Seconds buckets for durations from milliseconds (a NOTIFY) to many minutes (an agent run). */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export type Labels = Record<string, string>;

/** What a read-at-scrape metric returns: one value, or one value per label set. */
export type Sample = number | Array<{ labels: Labels; value: number }>;

/** A counter updated in place. */
export interface Counter {
  inc(labels?: Labels, value?: number): void;
}

/** A histogram updated in place. */
export interface Histogram {
  observe(labels: Labels, value: number): void;
}

type Read = () => Sample | Promise<Sample>;

export class Metrics {
  readonly #registry = new Registry();

  /** A counter that code increments; `labelNames` documents (and checks) the labels it is given. */
  counter(name: string, help: string, labelNames: string[] = []): Counter {
    const counter = new PromCounter({ name, help, labelNames, registers: [this.#registry] });
    return { inc: (labels = {}, value = 1) => counter.inc(labels, value) };
  }

  /**
   * A gauge read when scraped. `read` may be async (a database query); a failure omits the gauge from
   * that scrape. `labelNames` are the labels its samples carry.
   */
  gauge(name: string, help: string, read: Read, labelNames: string[] = []): void {
    new PromGauge({
      name,
      help,
      labelNames,
      registers: [this.#registry],
      async collect() {
        await refill(this, read, (labels, value) => this.set(labels, value));
      },
    });
  }

  /** A counter kept elsewhere (it only ever grows), read when scraped. */
  counterFrom(name: string, help: string, read: Read, labelNames: string[] = []): void {
    new PromCounter({
      name,
      help,
      labelNames,
      registers: [this.#registry],
      async collect() {
        await refill(this, read, (labels, value) => this.inc(labels, value));
      },
    });
  }

  /** A histogram with cumulative `buckets` (upper bounds, ascending), plus `_sum` and `_count`. */
  histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
    const histogram = new PromHistogram({ name, help, buckets, labelNames, registers: [this.#registry] });
    return { observe: (labels, value) => histogram.observe(labels, value) };
  }

  /** Every metric in the text exposition format. */
  async render(): Promise<string> {
    return await this.#registry.metrics();
  }
}

/**
 * Replaces a read-at-scrape metric's samples with what `read` returns now. A metric that cannot be
 * read right now (the database is restarting) is left out of this scrape, not faked: its samples are
 * removed, so only its HELP and TYPE lines remain.
 */
async function refill(metric: { reset(): void; remove(labels: Labels): void }, read: Read, put: (labels: Labels, value: number) => void): Promise<void> {
  let sample: Sample;
  try {
    sample = await read();
  } catch {
    metric.reset();
    metric.remove({});
    return;
  }
  metric.reset();
  if (typeof sample === "number") return put({}, sample);
  for (const entry of sample) put(entry.labels, entry.value);
}
