// Prometheus metrics shared by every service (prom-client): one registry per process with the
// runtime's default metrics, metrics that read counters the services already keep when scraped
// (so the hot paths pay nothing for them), the fsync latency histogram fed by
// lib/durable_file.ts, and the small HTTP listener behind METRICS_PORT (GET /metrics only).

import * as http from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Metric } from "prom-client";
import type { Logger } from "./log.ts";
import { observeSyncs } from "./durable_file.ts";

export { Registry };

/** Every metric of ours starts with it, so a dashboard finds them among other exporters'. */
export const metricPrefix = "stockbazaar_";
/**
 * fsync buckets, in seconds: an SSD's fdatasync takes tens of microseconds to a few
 * milliseconds; a busy or network disk, tens to hundreds of milliseconds.
 */
export const fsyncBucketsSeconds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** A scrape request's head must arrive within this: Prometheus sends a few hundred bytes at once. */
export const metricsHeadersTimeoutMs = 5_000;
/** Connections the metrics listener keeps open at most: a scraper or two, and an operator's curl. */
export const metricsConnectionsMax = 16;

/**
 * How often the event-loop lag monitor samples. prom-client's default, 10 ms, wakes an idle
 * process 100 times a second: measured here, an idle frontend then used about 1% of a core
 * instead of 0.25%. Ten samples a second still show any lag that matters to a request.
 */
export const eventLoopSampleMs = 100;

/** A registry for one process, with the runtime's metrics (CPU, memory, event loop lag, GC). */
export function createRegistry(): Registry {
  const registry = new Registry();
  // prom-client's default metrics read /proc where there is one and skip what they cannot read.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: eventLoopSampleMs });
  return registry;
}

/** One labelled value a collector reports; labels are in the metric's labelNames order. */
export type Sample = { readonly labels?: Readonly<Record<string, string>>; readonly value: number };
/**
 * Read when scraped: a number, or samples per label set (an empty list: no series now), or
 * undefined when the value cannot be read now (a failed store, Redis down): the metric then keeps
 * what the last scrape read, so a counter never falls back to 0 (which would read as a reset).
 */
export type Read = () => number | readonly Sample[] | undefined | Promise<number | readonly Sample[] | undefined>;

type Definition = { readonly name: string; readonly help: string; readonly labelNames?: readonly string[] };

/** A gauge whose value is read from the service at scrape time. */
export function gaugeFrom(registry: Registry, def: Definition, read: Read): void {
  new Gauge({
    ...optionsOf(registry, def),
    collect() {
      return refill(this, read, (s) => (s.labels ? this.set(s.labels, s.value) : this.set(s.value)));
    },
  });
}

/** A counter whose total is a count the service already keeps, read at scrape time. */
export function counterFrom(registry: Registry, def: Definition, read: Read): void {
  new Counter({
    ...optionsOf(registry, def),
    collect() {
      return refill(this, read, (s) => (s.labels ? this.inc(s.labels, s.value) : this.inc(s.value)));
    },
  });
}

function optionsOf(registry: Registry, def: Definition) {
  return { name: metricPrefix + def.name, help: def.help, labelNames: def.labelNames ?? [], registers: [registry] };
}

/** A scrape of a read-at-scrape metric: keep the last values when unreadable, else replace them all. */
async function refill(metric: { reset(): void }, read: Read, put: (sample: Sample) => void): Promise<void> {
  const value = await read();
  if (value === undefined) return;
  metric.reset();
  for (const s of samples(value)) put(s);
}

function samples(value: number | readonly Sample[]): readonly Sample[] {
  return typeof value === "number" ? [{ value }] : value;
}

/** 1 or 0, for a yes/no state as a gauge. */
export function flag(on: boolean): number {
  return on ? 1 : 0;
}

/**
 * The fsync latency histogram, fed by every successful fdatasync of lib/durable_file.ts in this
 * process: appends (journal, order log) and whole-file replacements (checkpoint, epoch, vote).
 * Its count is the number of fsyncs.
 */
export function observeFsyncs(registry: Registry): void {
  const histogram = new Histogram({
    name: `${metricPrefix}fsync_duration_seconds`,
    help: "Duration of each successful fdatasync, by what it made durable (append: log or journal lines; replace: a whole file).",
    labelNames: ["kind"],
    buckets: fsyncBucketsSeconds,
    registers: [registry],
  });
  const append = histogram.labels("append");
  const replace = histogram.labels("replace");
  observeSyncs((kind, seconds) => (kind === "append" ? append : replace).observe(seconds));
}

/** One label set of a CountingHistogram: what a hot path holds on to and observes into. */
export class HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  readonly counts: Float64Array;
  private readonly bounds: readonly number[];
  sum = 0;
  count = 0;

  constructor(labels: Readonly<Record<string, string>>, bounds: readonly number[]) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram for a hot path. prom-client's Histogram hashes the label values on
 * every observe, even through a labels() child: about 2 µs a call measured here, a tenth of what
 * the frontend spends on a cached lookup (README: Operating). Here a series is found by one Map
 * lookup of its label values, and observing is a bucket search and three additions; prom-client still
 * formats it, when scraped, as one of the registry's metrics (through the `get()` shape its
 * own metrics return).
 */
export class CountingHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  /** Every series, by its label values in labelNames order (joined by NUL, which no label value holds). */
  private readonly byValues = new Map<string, HistogramSeries>();

  constructor(registry: Registry, def: Definition & { readonly buckets: readonly number[] }) {
    this.name = metricPrefix + def.name;
    this.help = def.help;
    this.labelNames = def.labelNames ?? [];
    this.bounds = def.buckets;
    if (!this.bounds.every((b, i) => Number.isFinite(b) && (i === 0 || b > (this.bounds[i - 1] as number)))) {
      throw new RangeError(`Cannot create histogram ${this.name}: buckets must be finite and increasing`);
    }
    registry.registerMetric(this as unknown as Metric);
  }

  /**
   * The series of these label values, made on first use (so no label set is exported twice).
   * Finding it builds a key: a hot caller keeps the series it got, keyed its own cheap way.
   */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = this.labelNames.map((n) => labels[n]).join("\0");
    let series = this.byValues.get(key);
    if (series === undefined) {
      const names = Object.keys(labels);
      if (names.length !== this.labelNames.length || !this.labelNames.every((n) => names.includes(n))) {
        throw new TypeError(`Cannot observe ${this.name}: labels must be exactly ${this.labelNames.join(", ")}`);
      }
      series = new HistogramSeries(labels, this.bounds);
      this.byValues.set(key, series);
    }
    return series;
  }

  /** prom-client's registry calls it to format the metric. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const s of this.byValues.values()) {
      let cumulative = 0;
      for (const [i, bound] of this.bounds.entries()) {
        cumulative += s.counts[i] as number;
        values.push({ labels: { le: bound, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Registry.resetMetrics() calls it. */
  reset(): void {
    for (const s of this.byValues.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

type ExportedValue = { labels: Record<string, string | number>; value: number; metricName: string };

/** The exposition text and its content type, for any HTTP server to send. */
export async function exposition(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

export type MetricsServer = { readonly port: number; close(): Promise<void> };

/** METRICS_PORT: GET /metrics answers the exposition; anything else is 404. Bound to the service's HOST. */
export async function serveMetrics(registry: Registry, host: string, port: number, log: Logger): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: GET /metrics\n");
      return;
    }
    exposition(registry).then(
      (m) => res.writeHead(200, { "content-type": m.contentType }).end(m.body),
      (err: unknown) => {
        log.error("collecting metrics failed", { error: String(err) });
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("collecting metrics failed\n");
      },
    );
  });
  server.headersTimeout = metricsHeadersTimeoutMs;
  server.requestTimeout = metricsHeadersTimeoutMs;
  server.maxConnections = metricsConnectionsMax;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
