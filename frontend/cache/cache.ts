// The frontend's lookup cache: one interface, three backends (in-process LRU, Redis, off).
// This file holds the interface, the types every backend shares and the consistency argument;
// it does no IO. The read-through logic is in stock_reader.ts, server push in
// invalidation_subscriber.ts.
//
// ## Why the cache never returns pre-trade data (read this before changing any backend)
//
// Facts from the catalog (README "The cache", protos/PROTOCOL.md): `version` of a stock grows by one per
// trade; a trade is installed (visible to Lookup) before the catalog pushes
// Invalidation{name, version = the NEW version}; a subscriber is registered before the catalog
// sends the stream's response headers (the frontend treats those headers as "subscribed").
//
// State kept by every backend: entries (name → StockView), and for protection against lookups
// that are still in flight:
//   floor[name]  the highest version named by an invalidation: data older than it is stale.
//   drops[name]  counts drop(name) calls (the frontend's own "a trade on name was answered").
//   epoch        changes on clear() and whenever floor/drops had to be forgotten (bound hit).
// A lookup takes a FillTicket = {name, drops[name], epoch} when it misses, BEFORE it asks the
// catalog; fill(ticket, stock) is refused unless drops[name] and epoch are unchanged and
// stock.version >= floor[name]; an entry never replaces an equal or newer version. Each of
// these checks and the write happen as one atomic step (one JS turn; one Lua script in Redis).
//
// Interleavings of a lookup L (ticket, catalog read of version v, fill) with a trade T
// (installed as version w = v + 1, invalidation I(w), and, through this frontend, drop):
//  1. L reads the catalog after T is installed: it holds post-trade data, fill is harmless.
//  2. L reads before T; I(w) is applied before L's fill: floor = w > v, the fill is refused.
//  3. L reads before T; L fills before I(w) is applied: I(w) deletes the entry (version v < w).
//  4. L reads before T; T's reply reaches this frontend, which calls drop(name) before
//     answering 200: L took its ticket before the drop (it read the catalog before T existed),
//     so drops[name] differs and the fill is refused, whether or not I(w) has arrived. A lookup
//     whose ticket is taken after the drop reads the catalog after T: case 1. So after the
//     200, no lookup through this frontend (or any frontend sharing its Redis) sees pre-trade
//     data: read-your-writes holds without waiting for the push.
//  5. The stream breaks: invalidations may be lost. The reader stops using the cache (no get,
//     no fill) and refuses fills from lookups that began under the old subscription. On
//     resubscribe, clear() empties the cache and changes the epoch, so no ticket taken before
//     can fill; only then is the cache used again. A lookup that starts after the catalog
//     registered the new subscription is covered by cases 1-4 again.
//  6. floor/drops reach their bound: they are forgotten and the epoch changes, so every ticket
//     that could have needed them is refused (cases 2 and 4 stay safe, at the cost of a miss).
//  7. Redis: a timed-out or failed invalidate/drop/clear leaves the store in doubt; the
//     backend then bypasses itself until a clear() succeeds. A Redis restart loses the epoch;
//     the first script to run afterwards installs a fresh random one, so old tickets fail.
// What remains: a break the frontend has not yet detected (a silent network partition)
// leaves trades made through OTHER frontends invisible until gRPC keepalive notices, at most
// keepaliveTimeMs + keepaliveTimeoutMs (lib/grpc.ts); the frontend's own trades are case 4.

export type StockView = {
  readonly name: string;
  readonly price: number;
  readonly quantity: number;
  readonly volume: number;
  readonly version: number;
};

/** Taken by get() on a miss, before the catalog is asked; fill() checks it. Opaque to callers. */
export type FillTicket = {
  readonly name: string;
  readonly drops: number;
  readonly epoch: string;
};

export type CacheGet =
  | { readonly kind: "hit"; readonly stock: StockView }
  | { readonly kind: "miss"; readonly ticket: FillTicket }
  /** The cache cannot answer (off, Redis down or in doubt): ask the catalog, do not fill. */
  | { readonly kind: "bypass"; readonly reason: string };

export const fillOutcomes = [
  "filled", // stored
  "kept", // an entry with an equal or newer version is already cached
  "stale", // older than the newest invalidation of this stock
  "dropped", // drop(name) ran after the ticket was taken
  "cleared", // clear() ran (or the bookkeeping was reset) after the ticket was taken
  "unavailable", // the backend could not be reached; nothing is known to be stored
  "off", // caching is turned off
] as const;
export type FillOutcome = typeof fillOutcomes[number];

export type BackendName = "lru" | "redis" | "off";

/** "in doubt": a write to Redis failed, so the cache is bypassed until a clear succeeds. */
export type CacheState = "ok" | "off" | "unavailable" | "in doubt";

export type CacheStats = {
  readonly backend: BackendName;
  readonly state: CacheState;
  readonly size: number;
  readonly capacity: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  /** Cached names, least recently used first. */
  readonly keys: string[];
};

export type CacheEvent =
  | { readonly kind: "hit" | "miss"; readonly name: string }
  | { readonly kind: "fill"; readonly name: string; readonly version: number; readonly outcome: FillOutcome }
  | { readonly kind: "evict"; readonly name: string }
  | { readonly kind: "invalidate"; readonly name: string; readonly version: number; readonly removed: boolean }
  | { readonly kind: "drop"; readonly name: string }
  | { readonly kind: "clear" }
  | { readonly kind: "reset"; readonly reason: string };

/** Receives every cache event, with the cached names after it (LRU order) when it changed them. */
export type CacheEventSink = (event: CacheEvent, keys: readonly string[] | undefined) => void;

/**
 * Contract for every backend. No method throws for an operating error: a backend that cannot
 * reach its store answers `bypass` / `unavailable`, and after a failed invalidate, drop or
 * clear it keeps answering `bypass` until a later clear() succeeds.
 */
export interface StockCache {
  readonly backend: BackendName;
  readonly capacity: number;
  /** A hit marks the entry most recently used; a miss returns the ticket for fill(). */
  get(name: string): Promise<CacheGet>;
  /**
   * Offered by a backend that needs no IO (the in-process LRU): a hit answered in the same JS
   * turn — the entry, marked most recently used and counted as a hit — or undefined, with
   * nothing counted, after which the caller uses get().
   */
  hitNow?(name: string): StockView | undefined;
  /** Store `stock` unless something listed in the consistency argument above forbids it. */
  fill(ticket: FillTicket, stock: StockView): Promise<FillOutcome>;
  /** The catalog changed `name` to `version`: drop older data, refuse older fills. */
  invalidate(name: string, version: number): Promise<void>;
  /** Remove `name` and refuse fills from every lookup that took its ticket before this call. */
  drop(name: string): Promise<void>;
  /** Remove everything and refuse every ticket taken before. */
  clear(): Promise<void>;
  stats(): Promise<CacheStats>;
  close(): Promise<void>;
}

/**
 * Names and versions the floor/drops bookkeeping remembers before it resets itself (and
 * changes the epoch). The catalog has tens of stocks and invalidations only name real ones,
 * so the bound is never reached in normal use; it exists so no input can grow memory forever.
 */
export const cacheTrackedNamesMax = 10_000;
/** Largest CACHE_SIZE accepted: entries are about 100 bytes, so this bounds memory to ~100 MB. */
export const cacheSizeMax = 1_000_000;

/** Validates a fill's data once, where it enters the cache; a bad version is a bug upstream. */
export function isValidStockView(stock: StockView): boolean {
  return stock.name !== "" && Number.isSafeInteger(stock.version) && stock.version >= 0 &&
    Number.isFinite(stock.price) && Number.isSafeInteger(stock.quantity) && Number.isSafeInteger(stock.volume);
}
