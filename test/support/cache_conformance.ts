// The one conformance suite every cache backend must pass: the LRU and the
// Redis backend run exactly these cases. A backend's own test file supplies a factory.

import type { Test } from "uvu";
import * as assert from "uvu/assert";
import type { CacheEvent, CacheGet, FillTicket, StockCache, StockView } from "../../frontend/cache/cache.ts";
import { waitFor } from "./wait.ts";

export type CacheFactory = (options: {
  readonly capacity: number;
  readonly trackedNamesMax?: number;
  readonly onEvent?: (event: CacheEvent, keys: readonly string[] | undefined) => void;
}) => Promise<StockCache>;

export function stock(name: string, version: number, quantity = 100): StockView {
  return { name, price: 10.5, quantity, volume: 100 - quantity, version };
}

export async function ticketFor(cache: StockCache, name: string): Promise<FillTicket> {
  const got = await cache.get(name);
  if (got.kind !== "miss") assert.unreachable(`expected a miss for ${name}, got ${got.kind}`);
  return (got as Extract<CacheGet, { kind: "miss" }>).ticket;
}

async function fillFresh(cache: StockCache, view: StockView): Promise<void> {
  assert.is(await cache.fill(await ticketFor(cache, view.name), view), "filled");
}

/** Adds the conformance cases to `suite`; `make` builds a fresh, empty cache per case. */
export function defineCacheConformance(suite: Test, make: CacheFactory): void {
  const opened: StockCache[] = [];
  const open: CacheFactory = async (options) => {
    const cache = await make(options);
    opened.push(cache);
    return cache;
  };
  suite.after.each(async () => {
    for (const cache of opened.splice(0)) await cache.close();
  });

  suite("hit after miss, counted", async () => {
    const cache = await open({ capacity: 3 });
    const ticket = await ticketFor(cache, "GameStart");
    assert.is(await cache.fill(ticket, stock("GameStart", 1)), "filled");
    const got = await cache.get("GameStart");
    assert.equal(got, { kind: "hit", stock: stock("GameStart", 1) });
    const stats = await cache.stats();
    assert.equal([stats.hits, stats.misses, stats.size, stats.capacity], [1, 1, 1, 3]);
    assert.equal(stats.keys, ["GameStart"]);
  });

  suite("eviction replaces the least recently used, hits refresh recency", async () => {
    const cache = await open({ capacity: 3 });
    for (const name of ["A", "B", "C"]) await fillFresh(cache, stock(name, 1));
    assert.is((await cache.get("A")).kind, "hit");
    await fillFresh(cache, stock("D", 1));
    assert.equal((await cache.stats()).keys, ["C", "A", "D"]);
    await fillFresh(cache, stock("E", 1));
    const stats = await cache.stats();
    assert.equal(stats.keys, ["A", "D", "E"]);
    assert.is(stats.evictions, 2);
    assert.is((await cache.get("B")).kind, "miss");
  });

  suite("capacity is exact, at the limit and one past it", async () => {
    const cache = await open({ capacity: 4 });
    for (let i = 0; i < 4; i++) await fillFresh(cache, stock(`S${i}`, 1));
    assert.equal([(await cache.stats()).size, (await cache.stats()).evictions], [4, 0]);
    await fillFresh(cache, stock("S4", 1));
    assert.equal([(await cache.stats()).size, (await cache.stats()).evictions], [4, 1]);
    for (let i = 5; i < 20; i++) await fillFresh(cache, stock(`S${i}`, 1));
    const stats = await cache.stats();
    assert.equal([stats.size, stats.evictions], [4, 16]);
    assert.equal(stats.keys, ["S16", "S17", "S18", "S19"]);
  });

  suite("invalidate removes older data and refuses older fills", async () => {
    const cache = await open({ capacity: 3 });
    await fillFresh(cache, stock("A", 1));
    const inFlight = await ticketFor(cache, "B");
    await cache.invalidate("A", 2);
    await cache.invalidate("B", 2);
    assert.is((await cache.get("A")).kind, "miss");
    // A lookup that read version 1 before the trade must not fill after the invalidation...
    assert.is(await cache.fill(inFlight, stock("B", 1)), "stale");
    // ...nor may one whose ticket is newer but whose data is old.
    assert.is(await cache.fill(await ticketFor(cache, "A"), stock("A", 1)), "stale");
    // Data at or past the invalidated version is post-trade and may be cached.
    assert.is(await cache.fill(await ticketFor(cache, "A"), stock("A", 2)), "filled");
    assert.equal((await cache.stats()).keys, ["A"]);
  });

  suite("a late invalidation keeps an entry at or past its version", async () => {
    const cache = await open({ capacity: 3 });
    await fillFresh(cache, stock("A", 5));
    await cache.invalidate("A", 5);
    await cache.invalidate("A", 4);
    assert.equal(await cache.get("A"), { kind: "hit", stock: stock("A", 5) });
  });

  suite("a fill never replaces an equal or newer entry", async () => {
    const cache = await open({ capacity: 3 });
    const first = await ticketFor(cache, "A");
    const second = await ticketFor(cache, "A");
    assert.is(await cache.fill(first, stock("A", 3)), "filled");
    assert.is(await cache.fill(second, stock("A", 2)), "kept");
    assert.is(await cache.fill(second, stock("A", 3)), "kept");
    assert.is(await cache.fill(second, stock("A", 4)), "filled");
    assert.equal(await cache.get("A"), { kind: "hit", stock: stock("A", 4) });
  });

  suite("drop removes the entry and blocks fills from lookups that began before it", async () => {
    const cache = await open({ capacity: 3 });
    await fillFresh(cache, stock("A", 1));
    const inFlight = await ticketFor(cache, "B");
    await cache.drop("A");
    await cache.drop("B");
    assert.is((await cache.get("A")).kind, "miss");
    // Drop knows no version, so even "new" data from a lookup begun before it is refused.
    assert.is(await cache.fill(inFlight, stock("B", 7)), "dropped");
    assert.is(await cache.fill(await ticketFor(cache, "B"), stock("B", 7)), "filled");
  });

  suite("drop of one name leaves other lookups alone", async () => {
    const cache = await open({ capacity: 3 });
    const other = await ticketFor(cache, "B");
    await cache.drop("A");
    assert.is(await cache.fill(other, stock("B", 1)), "filled");
  });

  suite("clear empties the cache and refuses every earlier ticket", async () => {
    const cache = await open({ capacity: 3 });
    await fillFresh(cache, stock("A", 1));
    const inFlight = await ticketFor(cache, "B");
    await cache.clear();
    const stats = await cache.stats();
    assert.equal([stats.size, stats.keys], [0, []]);
    assert.is(await cache.fill(inFlight, stock("B", 1)), "cleared");
    assert.is(await cache.fill(await ticketFor(cache, "B"), stock("B", 1)), "filled");
  });

  suite("reaching the tracked-names bound resets bookkeeping and refuses earlier tickets", async () => {
    const cache = await open({ capacity: 3, trackedNamesMax: 3 });
    const inFlight = await ticketFor(cache, "A");
    for (const name of ["W", "X", "Y"]) await cache.invalidate(name, 1);
    assert.is(await cache.fill(inFlight, stock("A", 1)), "filled");
    const second = await ticketFor(cache, "B");
    await cache.invalidate("Z", 1);
    assert.is(await cache.fill(second, stock("B", 1)), "cleared");
    // The entry that was correct before the reset is still served.
    assert.is((await cache.get("A")).kind, "hit");
  });

  suite("events report evictions with the cached names in LRU order", async () => {
    const events: string[] = [];
    const cache = await open({
      capacity: 2,
      onEvent: (event, keys) => {
        if (event.kind === "evict") events.push(`evict ${event.name} [${keys?.join(",") ?? "?"}]`);
      },
    });
    for (const name of ["A", "B", "C"]) await fillFresh(cache, stock(name, 1));
    await waitFor(() => events.length >= 1);
    assert.equal(events, ["evict A [B,C]"]);
  });
}
