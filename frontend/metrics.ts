// The frontend's Prometheus metrics, served at GET /metrics on its HTTP port: request latency
// by route, method and status, observed by the API as it answers (its count is the request
// count; route labels are the API's route patterns); everything else (cache, leader, elections, retries, batches) is read from the counters
// the reader, the selector and the gateway already keep, when scraped.

import { counterFrom, CountingHistogram, createRegistry, exposition, flag, gaugeFrom } from "../lib/metrics.ts";
import type { HistogramSeries, Registry } from "../lib/metrics.ts";
import { commonMethods } from "./http/head.ts";
import type { HttpResponse } from "./http/server.ts";
import type { RequestObserver } from "./api.ts";
import type { LeaderSelector } from "./leader_selector.ts";
import type { OrderGateway } from "./order_gateway.ts";
import type { ReaderStats } from "./cache/stock_reader.ts";

/**
 * Request latency buckets, in seconds: a cache hit answers in well under a millisecond, a trade
 * waits for fsyncs on two machines (milliseconds), a failover up to the 10 s retry budget.
 */
export const requestBucketsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The common methods are labelled by name; any other token a client sends is "other", so labels stay few. */
export function methodLabel(method: string): string {
  return commonMethods.has(method) ? method : "other";
}

export type FrontendMetricsDeps = {
  readonly cacheStats: () => Promise<ReaderStats>;
  readonly leaders: LeaderSelector;
  readonly orders: OrderGateway;
  readonly connections: () => number;
};

export type FrontendMetrics = {
  /** One histogram observation per answered request (the API calls it: ApiDeps.observe). */
  observe: RequestObserver;
  /** The GET /metrics response. */
  respond(): Promise<HttpResponse>;
};

export function createFrontendMetrics(deps: FrontendMetricsDeps): FrontendMetrics {
  const registry = createRegistry();
  const requests = new CountingHistogram(registry, {
    name: "frontend_http_request_duration_seconds",
    help: "Time from a parsed request to its response, by route, method and status; _count is the request count.",
    labelNames: ["route", "method", "status"],
    buckets: requestBucketsSeconds,
  });
  // Each label set's series, kept under a key built from the request's own values: a tenth of
  // the cost of the histogram's own lookup by labels. Few: few routes, few methods, statuses 200..599.
  const series = new Map<string, HistogramSeries>();
  const observe: RequestObserver = (route, rawMethod, status, startMs) => {
    const method = methodLabel(rawMethod);
    const key = `${route} ${method} ${status}`;
    let s = series.get(key);
    if (s === undefined) {
      s = requests.series({ route, method, status: String(status) });
      series.set(key, s);
    }
    s.observe((performance.now() - startMs) / 1000);
  };
  registerFrontendGauges(registry, deps);
  return {
    observe,
    respond: async () => {
      const m = await exposition(registry);
      return { status: 200, headers: { "content-type": m.contentType }, body: m.body };
    },
  };
}

function registerFrontendGauges(registry: Registry, deps: FrontendMetricsDeps): void {
  const { leaders, orders } = deps;
  // Every cache metric of one scrape shares one stats() call (collectors start in the same turn);
  // a backend that cannot answer (Redis down) leaves the cache metrics out of that scrape.
  let pending: Promise<ReaderStats | undefined> | undefined;
  const cache = (): Promise<ReaderStats | undefined> => {
    pending ??= deps.cacheStats().catch(() => undefined).finally(() => (pending = undefined));
    return pending;
  };
  counterFrom(registry, { name: "frontend_cache_hits_total", help: "Lookups answered from the cache." }, async () => (await cache())?.hits);
  counterFrom(
    registry,
    { name: "frontend_cache_misses_total", help: "Lookups the cache could not answer (then asked the catalog)." },
    async () => (await cache())?.misses,
  );
  counterFrom(
    registry,
    { name: "frontend_cache_evictions_total", help: "Entries evicted to make room (LRU)." },
    async () => (await cache())?.evictions,
  );
  counterFrom(registry, {
    name: "frontend_cache_invalidations_total",
    help: "Invalidations received from the catalog's push stream.",
  }, async () => (await cache())?.subscription.invalidations);
  counterFrom(registry, {
    name: "frontend_cache_bypassed_total",
    help: "Lookups sent to the catalog without the cache (unsubscribed, cache off, in doubt or unavailable).",
  }, async () => (await cache())?.bypassed);
  gaugeFrom(registry, { name: "frontend_cache_entries", help: "Entries in the cache now." }, async () => (await cache())?.size);
  gaugeFrom(
    registry,
    { name: "frontend_cache_capacity", help: "CACHE_SIZE: entries the cache holds at most." },
    async () => (await cache())?.capacity,
  );
  gaugeFrom(registry, {
    name: "frontend_cache_subscribed",
    help: "1 while the invalidation stream is confirmed (the cache is used only then).",
  }, async () => {
    const s = await cache();
    return s === undefined ? undefined : flag(s.subscribed);
  });
  gaugeFrom(
    registry,
    { name: "frontend_leader_id", help: "The order leader this frontend sends to (0: none selected)." },
    () => leaders.leaderId() ?? 0,
  );
  gaugeFrom(registry, { name: "frontend_leader_epoch", help: "The epoch of that leader." }, () => leaders.currentEpoch());
  counterFrom(
    registry,
    { name: "frontend_elections_total", help: "Elections this frontend asked for that succeeded (SetLeader)." },
    () => leaders.elections,
  );
  counterFrom(registry, {
    name: "frontend_order_retries_total",
    help: "Order calls retried with the same request id after a leader failed or moved.",
  }, () => orders.retries);
  counterFrom(registry, {
    name: "frontend_place_batches_total",
    help: "PlaceBatch calls to the leader; place_batch_orders_total ÷ this is the mean batch size.",
  }, () => orders.batcher.calls);
  counterFrom(
    registry,
    { name: "frontend_place_batch_orders_total", help: "Orders sent in PlaceBatch calls." },
    () => orders.batcher.orders,
  );
  gaugeFrom(registry, { name: "frontend_http_connections", help: "Open client connections." }, () => deps.connections());
}
