// The in-process cache backend: an exact LRU of at most `capacity` stocks in one Map, whose
// insertion order is the recency order (a hit deletes and re-inserts, O(1)). It also keeps the
// floor/drops/epoch bookkeeping that makes fills version-checked (see cache.ts). Nothing here
// does IO or can fail, so every check-and-write is atomic by running in one JS turn.

import { assert } from "../../lib/assert.ts";
import type { CacheEventSink, CacheGet, CacheStats, FillOutcome, FillTicket, StockCache, StockView } from "./cache.ts";
import { cacheSizeMax, cacheTrackedNamesMax, isValidStockView } from "./cache.ts";

export type LruCacheOptions = {
  readonly capacity: number;
  readonly onEvent?: CacheEventSink;
  /** Bound on remembered floors/drops; tests lower it to reach the reset. */
  readonly trackedNamesMax?: number;
};

export class LruCache implements StockCache {
  readonly backend = "lru";
  readonly capacity: number;
  /** Least recently used first. */
  private readonly entries = new Map<string, StockView>();
  private readonly floors = new Map<string, number>();
  private readonly drops = new Map<string, number>();
  private epochCounter = 0;
  private epoch = "0";
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private readonly trackedNamesMax: number;
  private readonly onEvent: CacheEventSink | undefined;

  constructor(options: LruCacheOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1 || options.capacity > cacheSizeMax) {
      throw new RangeError(`LRU cache capacity must be an integer from 1 to ${cacheSizeMax} (got ${options.capacity})`);
    }
    this.capacity = options.capacity;
    this.trackedNamesMax = options.trackedNamesMax ?? cacheTrackedNamesMax;
    this.onEvent = options.onEvent;
  }

  hitNow(name: string): StockView | undefined {
    const stock = this.entries.get(name);
    if (stock === undefined) return undefined;
    this.entries.delete(name);
    this.entries.set(name, stock);
    this.hits++;
    this.emit({ kind: "hit", name }, true);
    return stock;
  }

  get(name: string): Promise<CacheGet> {
    const stock = this.hitNow(name);
    if (stock !== undefined) return Promise.resolve({ kind: "hit", stock });
    this.misses++;
    this.emit({ kind: "miss", name }, false);
    const ticket: FillTicket = { name, drops: this.drops.get(name) ?? 0, epoch: this.epoch };
    return Promise.resolve({ kind: "miss", ticket });
  }

  fill(ticket: FillTicket, stock: StockView): Promise<FillOutcome> {
    assert(ticket.name === stock.name, `fill of ${stock.name} with a ticket for ${ticket.name}`);
    assert(isValidStockView(stock), `fill with an invalid stock ${JSON.stringify(stock)}`);
    const outcome = this.fillChecked(ticket, stock);
    this.emit({ kind: "fill", name: stock.name, version: stock.version, outcome }, outcome === "filled");
    return Promise.resolve(outcome);
  }

  private fillChecked(ticket: FillTicket, stock: StockView): FillOutcome {
    if (ticket.epoch !== this.epoch) return "cleared";
    if ((this.drops.get(stock.name) ?? 0) !== ticket.drops) return "dropped";
    if (stock.version < (this.floors.get(stock.name) ?? 0)) return "stale";
    const current = this.entries.get(stock.name);
    if (current !== undefined && current.version >= stock.version) return "kept";
    this.entries.delete(stock.name);
    this.entries.set(stock.name, stock);
    this.evictOverCapacity();
    return "filled";
  }

  private evictOverCapacity(): void {
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      assert(!oldest.done, "an over-capacity cache has an oldest entry");
      this.entries.delete(oldest.value);
      this.evictions++;
      this.emit({ kind: "evict", name: oldest.value }, true);
    }
  }

  invalidate(name: string, version: number): Promise<void> {
    this.floors.set(name, Math.max(version, this.floors.get(name) ?? 0));
    const current = this.entries.get(name);
    const removed = current !== undefined && current.version < version;
    if (removed) this.entries.delete(name);
    this.emit({ kind: "invalidate", name, version, removed }, removed);
    this.boundTracking();
    return Promise.resolve();
  }

  drop(name: string): Promise<void> {
    this.drops.set(name, (this.drops.get(name) ?? 0) + 1);
    this.entries.delete(name);
    this.emit({ kind: "drop", name }, true);
    this.boundTracking();
    return Promise.resolve();
  }

  /** Forgetting floors or drops is safe only together with a new epoch (cache.ts, case 6). */
  private boundTracking(): void {
    if (this.floors.size <= this.trackedNamesMax && this.drops.size <= this.trackedNamesMax) return;
    this.floors.clear();
    this.drops.clear();
    this.newEpoch();
    this.emit({ kind: "reset", reason: "tracked names bound reached" }, false);
  }

  clear(): Promise<void> {
    this.entries.clear();
    this.floors.clear();
    this.drops.clear();
    this.newEpoch();
    this.emit({ kind: "clear" }, true);
    return Promise.resolve();
  }

  private newEpoch(): void {
    this.epochCounter++;
    this.epoch = String(this.epochCounter);
  }

  stats(): Promise<CacheStats> {
    return Promise.resolve({
      backend: this.backend,
      state: "ok",
      size: this.entries.size,
      capacity: this.capacity,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      keys: [...this.entries.keys()],
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private emit(event: Parameters<CacheEventSink>[0], changed: boolean): void {
    if (this.onEvent) this.onEvent(event, changed ? [...this.entries.keys()] : undefined);
  }
}
