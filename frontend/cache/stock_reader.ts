// The read-through behind GET /stocks/{name}: answer from the cache while subscribed to the
// catalog's invalidations, otherwise ask the catalog, and fill the cache only when nothing
// could have made the answer stale meanwhile (see cache.ts). It maps no HTTP statuses: the
// route does, from `undefined` (not found) or the thrown gRPC error (catalog unreachable).

import type { CatalogClient, Stock } from "../../gen/catalog.ts";
import { callUnary, grpc, isServiceError } from "../../lib/grpc.ts";
import type { Logger } from "../../lib/log.ts";
import type { CacheStats, StockCache, StockView } from "./cache.ts";
import type { SubscriberStats } from "./invalidation_subscriber.ts";
import { InvalidationSubscriber } from "./invalidation_subscriber.ts";

export { createCacheFromEnv } from "./cache_config.ts";

export type StockReaderOptions = {
  readonly catalog: CatalogClient;
  readonly cache: StockCache;
  readonly log: Logger;
  /** Deadline of each catalog Lookup. */
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

export type StockReader = {
  /** The stock, or undefined when the catalog says NOT_FOUND; throws the gRPC error otherwise. */
  lookup(name: string): Promise<StockView | undefined>;
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
  let bypassed = 0;

  function fetchBypassing(name: string): Promise<StockView | undefined> {
    bypassed++;
    return fetchStock(catalog, name, lookupTimeoutMs);
  }

  async function lookup(name: string): Promise<StockView | undefined> {
    if (!subscriber.isSubscribed()) return fetchBypassing(name);
    const generation = subscriber.generation();
    const unchanged = (): boolean => subscriber.isSubscribed() && subscriber.generation() === generation;
    const got = await cache.get(name);
    // The stream may have broken while the cache answered: then even a hit may be stale.
    if (!unchanged() || got.kind === "bypass") return fetchBypassing(name);
    if (got.kind === "hit") return got.stock;
    const stock = await fetchStock(catalog, name, lookupTimeoutMs);
    if (stock !== undefined && unchanged()) await cache.fill(got.ticket, stock);
    return stock;
  }

  return {
    lookup,
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
      await cache.close();
    },
  };
}

/**
 * One catalog Lookup under its deadline; NOT_FOUND is an answer, anything else is thrown. It waits
 * (within the deadline) for a catalog that is coming back, so a restart does not fail lookups.
 */
export async function fetchStock(catalog: CatalogClient, name: string, timeoutMs: number): Promise<StockView | undefined> {
  let stock: Stock;
  try {
    stock = await callUnary(catalog, catalog.lookup, { name }, timeoutMs, { waitForReady: true });
  } catch (err) {
    if (isServiceError(err) && err.code === grpc.status.NOT_FOUND) return undefined;
    throw err;
  }
  return { name: stock.name, price: stock.price, quantity: stock.quantity, volume: stock.volume, version: stock.version };
}
