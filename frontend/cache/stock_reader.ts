// The read-through behind GET /stocks/{name}: answer from the cache while subscribed to the
// catalog's invalidations, otherwise ask the catalog (on its Lookups stream: catalog_lookups.ts),
// and fill the cache only when nothing could have made the answer stale meanwhile (cache.ts).
// It maps no HTTP statuses: the route does, from `undefined` (not found) or the thrown gRPC
// error (catalog unreachable).

import type { CatalogClient } from "../../gen/catalog.ts";
import { grpc } from "../../lib/grpc.ts";
import type { Logger } from "../../lib/log.ts";
import type { CacheStats, StockCache, StockView } from "./cache.ts";
import { CatalogLookups } from "./catalog_lookups.ts";
import type { SubscriberStats } from "./invalidation_subscriber.ts";
import { InvalidationSubscriber } from "./invalidation_subscriber.ts";

export { createCacheFromEnv } from "./cache_config.ts";

export type StockReaderOptions = {
  readonly catalog: CatalogClient;
  readonly cache: StockCache;
  readonly log: Logger;
  /** Deadline of each catalog lookup. */
  readonly lookupTimeoutMs: number;
  /** Shown in the catalog's log; defaults to frontend-<pid>. */
  readonly subscriberName?: string;
  readonly resubscribeDelayMsFirst?: number;
  readonly resubscribeDelayMsMax?: number;
};

export type ReaderStats = CacheStats & {
  readonly subscribed: boolean;
  /** Lookups that went to the catalog without the cache (unsubscribed, cache off or unavailable). */
  readonly bypassed: number;
  readonly subscription: SubscriberStats;
};

/** What a lookup did, for the Server-Timing header: filled in by lookup() as it goes. */
export type LookupTiming = {
  /** "bypass": the cache was not used (unsubscribed, off or unavailable). */
  cache: "hit" | "miss" | "bypass" | undefined;
  /** Time spent asking the cache, and the catalog when it was asked (ms; undefined when not). */
  cacheMs: number | undefined;
  catalogMs: number | undefined;
};

export function newLookupTiming(): LookupTiming {
  return { cache: undefined, cacheMs: undefined, catalogMs: undefined };
}

export type StockReader = {
  /** The stock, or undefined when the catalog says NOT_FOUND; throws the gRPC error otherwise. */
  lookup(name: string, timing?: LookupTiming): Promise<StockView | undefined>;
  /**
   * The stock when the cache can answer in this JS turn (subscribed, in-process backend, a hit),
   * else undefined with nothing counted: then call lookup(). Same rules as a hit in lookup().
   */
  cached(name: string, timing?: LookupTiming): StockView | undefined;
  /** Call after every trade reply on `name` (before answering the client), so it reads its own write. */
  tradeDone(name: string): Promise<void>;
  isSubscribed(): boolean;
  stats(): Promise<ReaderStats>;
  /** Subscribe to invalidations; until confirmed, lookups bypass the cache. */
  start(): void;
  /** Stop the subscription and close the cache backend. */
  close(): Promise<void>;
};

export function createStockReader(options: StockReaderOptions): StockReader {
  const { catalog, cache, lookupTimeoutMs } = options;
  const subscriber = new InvalidationSubscriber({
    catalog,
    cache,
    log: options.log,
    subscriberName: options.subscriberName ?? `frontend-${process.pid}`,
    ...(options.resubscribeDelayMsFirst === undefined ? {} : { delayMsFirst: options.resubscribeDelayMsFirst }),
    ...(options.resubscribeDelayMsMax === undefined ? {} : { delayMsMax: options.resubscribeDelayMsMax }),
  });
  // waitForReady: a stream opened while the catalog restarts waits for it (within each call's
  // deadline) instead of failing at once, so a quick restart shows as a slower lookup.
  const lookups = new CatalogLookups({
    open: () => catalog.lookups(new grpc.Metadata({ waitForReady: true })),
    timeoutMs: lookupTimeoutMs,
  });
  let bypassed = 0;

  async function askCatalog(name: string, timing: LookupTiming | undefined): Promise<StockView | undefined> {
    if (timing === undefined) return lookups.lookup(name);
    const start = performance.now();
    const stock = await lookups.lookup(name);
    timing.catalogMs = performance.now() - start;
    return stock;
  }

  function fetchBypassing(name: string, timing: LookupTiming | undefined): Promise<StockView | undefined> {
    bypassed++;
    if (timing !== undefined) timing.cache = "bypass";
    return askCatalog(name, timing);
  }

  async function lookup(name: string, timing?: LookupTiming): Promise<StockView | undefined> {
    if (!subscriber.isSubscribed()) return fetchBypassing(name, timing);
    const generation = subscriber.generation();
    const unchanged = (): boolean => subscriber.isSubscribed() && subscriber.generation() === generation;
    const start = timing === undefined ? 0 : performance.now();
    const got = await cache.get(name);
    if (timing !== undefined) timing.cacheMs = performance.now() - start;
    // The stream may have broken while the cache answered: then even a hit may be stale.
    if (!unchanged() || got.kind === "bypass") return fetchBypassing(name, timing);
    if (timing !== undefined) timing.cache = got.kind;
    if (got.kind === "hit") return got.stock;
    const stock = await askCatalog(name, timing);
    if (stock !== undefined && unchanged()) await cache.fill(got.ticket, stock);
    return stock;
  }

  function cached(name: string, timing?: LookupTiming): StockView | undefined {
    if (cache.hitNow === undefined || !subscriber.isSubscribed()) return undefined;
    const start = timing === undefined ? 0 : performance.now();
    const stock = cache.hitNow(name);
    if (stock !== undefined && timing !== undefined) {
      timing.cacheMs = performance.now() - start;
      timing.cache = "hit";
    }
    return stock;
  }

  return {
    lookup,
    cached,
    tradeDone: (name) => cache.drop(name),
    isSubscribed: () => subscriber.isSubscribed(),
    async stats() {
      const stats = await cache.stats();
      return { ...stats, subscribed: subscriber.isSubscribed(), bypassed, subscription: subscriber.stats() };
    },
    // With caching off there is nothing to invalidate, so the catalog keeps one stream fewer.
    start: () => {
      if (cache.backend !== "off") subscriber.start();
    },
    async close() {
      subscriber.close();
      lookups.close();
      await cache.close();
    },
  };
}
