// The in-process LRU backend: the shared conformance suite, plus what only this backend has
// (argument validation, and the no-cache backend it is replaced by when CACHE_SIZE=0).

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { defineCacheConformance, stock, ticketFor } from "../../test/support/cache_conformance.ts";
import { cacheSizeMax } from "./cache.ts";
import { LruCache } from "./lru_cache.ts";
import { NoCache } from "./no_cache.ts";

const conformance = suite("lru conformance");
defineCacheConformance(conformance, (options) => Promise.resolve(new LruCache(options)));
conformance.run();

const lru = suite("lru");

lru("capacity must be from 1 to cacheSizeMax", () => {
  assert.throws(() => new LruCache({ capacity: 0 }), (err: Error) => err instanceof RangeError && /capacity/.test(err.message));
  assert.throws(() => new LruCache({ capacity: 1.5 }), RangeError);
  assert.throws(() => new LruCache({ capacity: cacheSizeMax + 1 }), RangeError);
  assert.is(new LruCache({ capacity: cacheSizeMax }).capacity, cacheSizeMax);
});

lru("a fill with a ticket for another name is a bug", async () => {
  const cache = new LruCache({ capacity: 2 });
  const ticket = await ticketFor(cache, "A");
  assert.throws(() => cache.fill(ticket, stock("B", 1)), /assertion failed/);
});

lru("hitNow: a hit is counted and made most recent in the same turn; a miss counts nothing", async () => {
  const cache = new LruCache({ capacity: 2 });
  for (const name of ["A", "B"]) await cache.fill(await ticketFor(cache, name), stock(name, 1));
  const before = await cache.stats();
  assert.is(cache.hitNow("C"), undefined);
  assert.equal(cache.hitNow("A"), stock("A", 1));
  const after = await cache.stats();
  assert.equal([after.hits - before.hits, after.misses - before.misses], [1, 0]);
  assert.equal(after.keys, ["B", "A"], "A is now the most recently used");
  await cache.fill(await ticketFor(cache, "C"), stock("C", 1));
  assert.equal((await cache.stats()).keys, ["A", "C"], "so B is evicted first");
});

lru("a capacity of one keeps only the latest fill", async () => {
  const cache = new LruCache({ capacity: 1 });
  assert.is(await cache.fill(await ticketFor(cache, "A"), stock("A", 1)), "filled");
  assert.is(await cache.fill(await ticketFor(cache, "B"), stock("B", 1)), "filled");
  const stats = await cache.stats();
  assert.equal([stats.keys, stats.evictions], [["B"], 1]);
});

lru.run();

const off = suite("no cache");

off("every lookup bypasses and nothing is stored", async () => {
  const cache = new NoCache();
  assert.equal(await cache.get("A"), { kind: "bypass", reason: "cache off" });
  assert.is(await cache.fill({ name: "A", drops: 0, epoch: "0" }, stock("A", 1)), "off");
  await cache.invalidate("A", 2);
  await cache.drop("A");
  await cache.clear();
  assert.equal(await cache.stats(), { backend: "off", size: 0, capacity: 0, hits: 0, misses: 1, evictions: 0, keys: [], state: "off" });
});

off.run();
