// The read-through against the real catalog process (catalog/main.ts, PORT=0, a temp
// DATA_DIR), with both backends (in-process LRU; Redis on a redis-server this test starts, or
// REDIS_URL): a hit after a miss, a trade's pushed invalidation, the lookup/trade race forced
// with CATALOG_LOOKUP_DELAY_MS, and losing the stream to a SIGKILL and regaining it.

import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Side, TradeStatus } from "../../gen/catalog.ts";
import type { CatalogClient } from "../../gen/catalog.ts";
import type { CatalogHealthReply, CatalogHealthRequest, TradeBatchReply, TradeBatchRequest, TradeReply } from "../../gen/catalog.ts";
import { callUnary, grpc, isServiceError } from "../../lib/grpc.ts";
import { Logger } from "../../lib/log.ts";
import { freePort, serviceStartTimeoutMs } from "../../lib/service_process.ts";
import type { RunningService } from "../../lib/service_process.ts";
import { catalogClient } from "../../test/support/grpc_calls.ts";
import { killAndWait, startCatalog, startRedis, tempDir } from "../../test/support/processes.ts";
import { waitFor } from "../../test/support/wait.ts";
import type { StockCache } from "./cache.ts";
import { LruCache } from "./lru_cache.ts";
import { RedisCache } from "./redis_cache.ts";
import type { StockReader } from "./stock_reader.ts";
import { createStockReader } from "./stock_reader.ts";
import { sleep } from "../../lib/sleep.ts";

const log = new Logger("stock-reader-test", {}, "error");
const callTimeoutMs = 5_000;
/** Long enough that a trade surely lands while the lookup's reply is held back. */
const lookupDelayMs = 600;
/** The lookup deadline where a case waits for a lookup to fail with the catalog down. */
const downLookupTimeoutMs = 500;

/** Stops every process this file started, newest first (after the last case). */
const stops: (() => Promise<void>)[] = [];
const closers: (() => Promise<void> | void)[] = [];
let redisUrl = process.env["REDIS_URL"];

async function catalog(
  extraEnv: Record<string, string> = {},
  dataDir = tempDir("reader-catalog", true),
  port = 0,
): Promise<RunningService> {
  const started = await startCatalog({ DATA_DIR: dataDir, PORT: String(port), ...extraEnv });
  stops.push(() => killAndWait(started));
  return started;
}

function client(port: number): CatalogClient {
  const c = catalogClient(port);
  closers.push(() => c.close());
  return c;
}

/**
 * Redis call deadline here: generous, since these cases count hits, which a redis-server
 * descheduled for a moment on a busy machine must not turn into bypasses (production: 100 ms).
 */
const redisTestCallTimeoutMs = 2_000;

async function makeCache(backend: "lru" | "redis"): Promise<StockCache> {
  if (backend === "lru") return new LruCache({ capacity: 3 });
  if (redisUrl === undefined) {
    const redis = await startRedis();
    stops.push(() => redis.kill());
    redisUrl = `redis://127.0.0.1:${redis.port}`;
  }
  const cache = new RedisCache({
    url: redisUrl,
    capacity: 3,
    log,
    keyPrefix: `test:${randomUUID()}:{cache}:`,
    callTimeoutMs: redisTestCallTimeoutMs,
  });
  await waitFor(() => cache.connected, 5_000, "redis connection");
  return cache;
}

async function reader(port: number, backend: "lru" | "redis", lookupTimeoutMs = callTimeoutMs): Promise<StockReader> {
  const r = createStockReader({
    catalog: client(port),
    cache: await makeCache(backend),
    log,
    lookupTimeoutMs,
    resubscribeDelayMsFirst: 50,
    resubscribeDelayMsMax: 500,
  });
  closers.push(() => r.close());
  r.start();
  await waitFor(() => r.isSubscribed(), 10_000, "subscription");
  return r;
}

/**
 * One buy as the order leader sends it: a TradeBatch of one trade, from leader 1 of epoch 1,
 * right after the catalog's last number (read from its Health, since the catalog keeps its
 * numbering across restarts), everything before it committed.
 */
async function buy(port: number, name: string, quantity: number): Promise<number> {
  const c = client(port);
  const { lastNumber } = await callUnary<CatalogHealthRequest, CatalogHealthReply>(c, c.health, {}, callTimeoutMs);
  const request: TradeBatchRequest = {
    epoch: 1,
    leaderId: 1,
    afterNumber: lastNumber,
    commitNumber: lastNumber,
    trades: [{ requestId: randomUUID(), name, side: Side.SIDE_BUY, quantity }],
  };
  const reply = await callUnary<TradeBatchRequest, TradeBatchReply>(c, c.tradeBatch, request, callTimeoutMs);
  assert.equal(reply.missing, []);
  assert.is(reply.results.length, 1);
  const result = reply.results[0] as TradeReply;
  assert.is(result.status, TradeStatus.TRADE_OK, result.message);
  assert.is(result.number, lastNumber + 1);
  assert.is(reply.lastNumber, lastNumber + 1);
  return result.stock?.version ?? -1;
}

/**
 * Until the in-flight lookup has missed the cache (so its catalog call is on its way), then a
 * margin for that call to reach the catalog, which holds its reply for lookupDelayMs.
 */
async function lookupSentToCatalog(r: StockReader): Promise<void> {
  await waitFor(async () => (await r.stats()).misses >= 1, 5_000, "the lookup to miss");
  await sleep(lookupDelayMs / 4);
}

const test = suite("stock reader (real catalog)");
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
test.after(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

for (const backend of ["lru", "redis"] as const) {
  test(`${backend}: a hit after a miss, then a trade's push makes the next lookup miss with new data`, async () => {
    const cat = await catalog();
    const r = await reader(cat.port, backend);
    const before = await r.lookup("GameStart");
    assert.equal([before?.quantity, before?.volume], [100, 0]);
    assert.equal(await r.lookup("GameStart"), before);
    assert.equal([(await r.stats()).hits, (await r.stats()).misses], [1, 1]);
    const version = await buy(cat.port, "GameStart", 3);
    assert.is(version, (before?.version ?? 0) + 1);
    await waitFor(async () => (await r.stats()).keys.length === 0, 5_000, "invalidation to remove the entry");
    const after = await r.lookup("GameStart");
    assert.equal([after?.quantity, after?.volume, after?.version], [97, 3, version]);
    assert.is((await r.stats()).misses, 2);
  });

  test(`${backend}: race: a lookup that read before a trade leaves no pre-trade data in the cache`, async () => {
    const cat = await catalog({ CATALOG_LOOKUP_DELAY_MS: String(lookupDelayMs) });
    const r = await reader(cat.port, backend);
    const inFlight = r.lookup("FishCo");
    await lookupSentToCatalog(r);
    const version = await buy(cat.port, "FishCo", 1);
    // The trade's push reaches the cache while the pre-trade reply is still held back.
    await waitFor(async () => (await r.stats()).subscription.invalidations >= 1, 5_000, "invalidation");
    const stale = await inFlight;
    assert.is(stale?.version, version - 1, "the race was not forced: the lookup read after the trade");
    assert.equal((await r.stats()).keys, [], "pre-trade data must not be cached");
    const fresh = await r.lookup("FishCo");
    assert.equal([fresh?.version, fresh?.quantity], [version, 99]);
  });

  test(`${backend}: read-your-writes: after tradeDone the next lookup reflects the trade`, async () => {
    const cat = await catalog({ CATALOG_LOOKUP_DELAY_MS: String(lookupDelayMs) });
    const r = await reader(cat.port, backend);
    const inFlight = r.lookup("BoarCo");
    await lookupSentToCatalog(r);
    const version = await buy(cat.port, "BoarCo", 2);
    await r.tradeDone("BoarCo");
    assert.is((await inFlight)?.version, version - 1);
    assert.is((await r.lookup("BoarCo"))?.version, version);
    assert.is((await r.lookup("BoarCo"))?.version, version);
  });

  test(`${backend}: SIGKILL of the catalog: unsubscribed, cache cleared and bypassed; resubscribed after restart`, async () => {
    const dataDir = tempDir("reader-catalog", true);
    const first = await catalog({}, dataDir, await freePort());
    const r = await reader(first.port, backend, downLookupTimeoutMs);
    await r.lookup("MenhirCo");
    const version = await buy(first.port, "MenhirCo", 4);
    await r.lookup("MenhirCo");
    assert.is((await r.stats()).size, 1);
    await killAndWait(first);
    await waitFor(() => !r.isSubscribed(), 10_000, "break detected");
    assert.is((await r.stats()).size, 0);
    const err = await r.lookup("MenhirCo").then(() => undefined, (e: unknown) => e);
    assert.ok(
      isServiceError(err) && [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code),
      `with the catalog down a lookup fails within its deadline (got ${String(err)})`,
    );
    assert.ok((await r.stats()).bypassed >= 1);
    await catalog({}, dataDir, first.port);
    await waitFor(() => r.isSubscribed(), 15_000, "resubscription");
    const stats = await r.stats();
    assert.equal([stats.subscription.subscriptions, stats.subscription.breaks], [2, 1]);
    assert.is((await r.lookup("MenhirCo"))?.version, version, "the trade survived the catalog's SIGKILL");
    assert.is((await r.lookup("MenhirCo"))?.quantity, 96);
    assert.is((await r.stats()).hits, 1);
  });
}

test("a lookup made while the catalog restarts waits for it, within its deadline, instead of failing at once", async () => {
  const dataDir = tempDir("reader-catalog", true);
  const first = await catalog({}, dataDir, await freePort());
  // The point is waiting rather than failing at once; the deadline only has to outlast a restart.
  const r = await reader(first.port, "lru", serviceStartTimeoutMs);
  assert.is((await r.lookup("FishCo"))?.name, "FishCo");
  await killAndWait(first);
  await waitFor(() => !r.isSubscribed(), 10_000, "break detected");
  const during = r.lookup("BardCo").then((stock) => stock?.name, (err: unknown) => `failed: ${String(err)}`);
  await catalog({}, dataDir, first.port);
  assert.is(await during, "BardCo");
});

test("unknown stock: undefined from the catalog, nothing cached", async () => {
  const cat = await catalog();
  const r = await reader(cat.port, "lru");
  assert.is(await r.lookup("NoSuchCo"), undefined);
  assert.is((await r.stats()).size, 0);
});

test.run();
