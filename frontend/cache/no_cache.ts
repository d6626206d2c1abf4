// The backend for CACHE_SIZE=0 or CACHE=off: every lookup bypasses to the catalog and nothing
// is stored, so there is nothing to invalidate. It keeps the interface so the reader has no
// special case, and counts lookups as misses so /health still shows the traffic.

import type { CacheGet, CacheStats, FillOutcome, FillTicket, StockCache, StockView } from "./cache.ts";

export class NoCache implements StockCache {
  readonly backend = "off";
  readonly capacity = 0;
  private misses = 0;

  get(_name: string): Promise<CacheGet> {
    this.misses++;
    return Promise.resolve({ kind: "bypass", reason: "cache off" });
  }

  fill(_ticket: FillTicket, _stock: StockView): Promise<FillOutcome> {
    return Promise.resolve("off");
  }

  invalidate(_name: string, _version: number): Promise<void> {
    return Promise.resolve();
  }

  drop(_name: string): Promise<void> {
    return Promise.resolve();
  }

  clear(): Promise<void> {
    return Promise.resolve();
  }

  stats(): Promise<CacheStats> {
    return Promise.resolve({
      backend: this.backend,
      state: "off",
      size: 0,
      capacity: 0,
      hits: 0,
      misses: this.misses,
      evictions: 0,
      keys: [],
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
