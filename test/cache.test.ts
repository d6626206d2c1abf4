// The frontend cache end to end (README: The cache, guarantee 4): real catalog, replicas and frontends
// over real HTTP. A hit after a miss; read-your-writes through the frontend that traded; the
// push reaching a second frontend; LRU replacement visible on /health; two frontends sharing
// a real Redis.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Program } from "./support/processes.ts";
import { startRedis } from "./support/processes.ts";
import type { RunningService } from "../lib/service_process.ts";
import { LocalSystem } from "./support/local_system.ts";
import { frontendHealth, waitForCacheInUse, withClient } from "./support/http.ts";
import { reported } from "./support/hooks.ts";
import { waitFor } from "./support/wait.ts";

/** How long a push may take to reach another frontend in a test (normally milliseconds). */
const pushWaitMs = 5_000;

type CacheStats = { backend: string; hits: number; misses: number; evictions: number; keys: string[] };

async function cacheStats(base: string): Promise<CacheStats> {
  return (await frontendHealth<{ cache: CacheStats }>(base) as { cache: CacheStats }).cache;
}

async function quantity(base: string, name: string): Promise<number> {
  return (await withClient(base, (client) => client.lookup(name))).data.quantity;
}

async function secondFrontend(cluster: LocalSystem, env: Record<string, string> = {}): Promise<{ service: RunningService; url: string }> {
  const service = await cluster.startExtraFrontend("frontend-b", env);
  return { service, url: `http://127.0.0.1:${service.port}` };
}

const Lru = suite("in-process LRU");
let cluster: LocalSystem;
let other: { service: RunningService; url: string } | undefined;

Lru.before(reported("in-process LRU cluster", async () => {
  cluster = await LocalSystem.start({ frontendEnv: { CACHE_SIZE: "3" } });
  other = await secondFrontend(cluster, { CACHE_SIZE: "3" });
  await waitForCacheInUse(cluster.url);
  await waitForCacheInUse(other.url);
}));
Lru.after(async () => {
  other?.service.kill("SIGKILL");
  await other?.service.exited;
  await cluster.stop();
});

Lru("a hit after a miss", async () => {
  const before = await cacheStats(cluster.url);
  await quantity(cluster.url, "GameStart");
  await quantity(cluster.url, "GameStart");
  const after = await cacheStats(cluster.url);
  assert.is(after.backend, "lru");
  assert.is(after.misses - before.misses, 1);
  assert.is(after.hits - before.hits, 1);
});

Lru("read-your-writes on the trading frontend; the push reaches the second frontend", async () => {
  const url = (other as { url: string }).url;
  const start = await quantity(cluster.url, "FishCo");
  assert.is(await quantity(url, "FishCo"), start);
  assert.is(await quantity(url, "FishCo"), start, "cached on the second frontend too");
  await withClient(cluster.url, (client) => client.trade({ name: "FishCo", quantity: 7, type: "buy" }));
  assert.is(await quantity(cluster.url, "FishCo"), start - 7, "the next lookup on the same frontend reflects the trade");
  await waitFor(async () => (await quantity(url, "FishCo")) === start - 7, pushWaitMs, "the second frontend reflects the trade");
  // A trade through the second frontend invalidates the first one's entry too.
  await quantity(cluster.url, "FishCo");
  await withClient(url, (client) => client.trade({ name: "FishCo", quantity: 2, type: "sell" }));
  assert.is(await quantity(url, "FishCo"), start - 5);
  await waitFor(async () => (await quantity(cluster.url, "FishCo")) === start - 5, pushWaitMs, "the first frontend reflects the trade");
});

Lru("LRU replacement: the least recently used stock is evicted first", async () => {
  for (const name of ["BoarCo", "MenhirCo", "PotionCo"]) await quantity(cluster.url, name);
  assert.equal((await cacheStats(cluster.url)).keys, ["BoarCo", "MenhirCo", "PotionCo"]);
  await quantity(cluster.url, "BoarCo"); // now most recently used
  const before = await cacheStats(cluster.url);
  await quantity(cluster.url, "DruidCo");
  const after = await cacheStats(cluster.url);
  assert.equal(after.keys, ["PotionCo", "BoarCo", "DruidCo"], "MenhirCo, the least recently used, was evicted");
  assert.is(after.evictions - before.evictions, 1);
});

Lru.run();

const Redis = suite("shared Redis");
let redisSystem: LocalSystem;
let redis: Program | undefined;
let redisOther: { service: RunningService; url: string } | undefined;

Redis.before(reported("shared Redis cluster", async () => {
  const url = process.env["REDIS_URL"];
  if (!url) redis = await startRedis();
  const redisUrl = url ?? `redis://127.0.0.1:${(redis as Program).port}`;
  // A key prefix of our own would be kinder to a shared REDIS_URL; the test flushes nothing.
  redisSystem = await LocalSystem.start({ frontendEnv: { REDIS_URL: redisUrl, CACHE_SIZE: "4" } });
  redisOther = await secondFrontend(redisSystem, { REDIS_URL: redisUrl, CACHE_SIZE: "4" });
  await waitForCacheInUse(redisSystem.url);
  await waitForCacheInUse(redisOther.url);
}));
Redis.after(async () => {
  redisOther?.service.kill("SIGKILL");
  await redisOther?.service.exited;
  await redisSystem?.stop();
  await redis?.kill();
});

Redis("two frontends share entries, and a trade on one is seen by the other at once", async () => {
  const b = (redisOther as { url: string }).url;
  const start = await quantity(redisSystem.url, "BardCo");
  const statsBefore = await cacheStats(b);
  assert.is(statsBefore.backend, "redis");
  assert.is(await quantity(b, "BardCo"), start);
  assert.is((await cacheStats(b)).hits - statsBefore.hits, 1, "filled by the first frontend, a hit on the second");
  await withClient(redisSystem.url, (client) => client.trade({ name: "BardCo", quantity: 3, type: "buy" }));
  assert.is(await quantity(b, "BardCo"), start - 3, "the shared entry was dropped before the trade was answered");
  assert.is(await quantity(redisSystem.url, "BardCo"), start - 3);
});

Redis.run();
