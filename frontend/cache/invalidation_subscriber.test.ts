// The subscription and the read-through over real gRPC against an in-process fake catalog,
// where a test can hold back pushes or confirmations and break streams at exact moments. The
// same behaviours against the real catalog process are in stock_reader.test.ts.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CatalogClient } from "../../gen/catalog.ts";
import { channelOptions, grpc, isServiceError } from "../../lib/grpc.ts";
import { Logger } from "../../lib/log.ts";
import { waitFor } from "../../test/support/wait.ts";
import { FakeCatalog } from "../../test/support/fake_catalog.ts";
import { resubscribeDelayMs, resubscribeJitterRatio } from "./invalidation_subscriber.ts";
import { LruCache } from "./lru_cache.ts";
import { NoCache } from "./no_cache.ts";
import type { StockReader } from "./stock_reader.ts";
import { createStockReader, newLookupTiming } from "./stock_reader.ts";

const log = new Logger("subscriber-test", {}, "error");
/** Short backoff so resubscription happens well inside a test's time bound. */
const delayMsFirst = 20;
const delayMsMax = 200;

/** Counts fill calls, to show the reader itself never tries a fill the cache would refuse. */
class CountingCache extends LruCache {
  fills = 0;
  override fill(...args: Parameters<LruCache["fill"]>): ReturnType<LruCache["fill"]> {
    this.fills++;
    return super.fill(...args);
  }
}

type Rig = { fake: FakeCatalog; reader: StockReader; cache: CountingCache; client: CatalogClient };
let rig: Rig | undefined;

async function setUp(configure: (fake: FakeCatalog) => void = () => {}): Promise<Rig> {
  const fake = new FakeCatalog();
  configure(fake);
  await fake.start();
  const client = new CatalogClient(`127.0.0.1:${fake.port}`, grpc.credentials.createInsecure(), channelOptions);
  const cache = new CountingCache({ capacity: 3 });
  const reader = createStockReader({
    catalog: client,
    cache,
    log,
    lookupTimeoutMs: 2_000,
    resubscribeDelayMsFirst: delayMsFirst,
    resubscribeDelayMsMax: delayMsMax,
  });
  rig = { fake, reader, cache, client };
  reader.start();
  return rig;
}

const test = suite("subscriber and reader (fake catalog)");
test.after.each(async () => {
  if (!rig) return;
  await rig.reader.close();
  rig.client.close();
  rig.fake.stop();
  rig = undefined;
});

test("subscribed once the catalog confirms; a hit after a miss", async () => {
  const { reader } = await setUp();
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  assert.is((await reader.lookup("GameStart"))?.version, 0);
  assert.is((await reader.lookup("GameStart"))?.version, 0);
  const stats = await reader.stats();
  assert.equal([stats.hits, stats.misses, stats.keys, stats.subscription.subscriptions], [1, 1, ["GameStart"], 1]);
});

test("cached(): a hit in the same turn once subscribed and filled; nothing before, nothing after an invalidation", async () => {
  const unconfirmed = await setUp((f) => {
    f.confirmEnabled = false;
  });
  await waitFor(() => unconfirmed.fake.subscriberCount() === 1, 5_000, "stream open");
  await unconfirmed.reader.lookup("MenhirCo");
  assert.is(unconfirmed.reader.cached("MenhirCo"), undefined, "unsubscribed: never from the cache");
  await unconfirmed.reader.close();
  unconfirmed.client.close();
  unconfirmed.fake.stop();
  const subscribed = await setUp();
  await waitFor(() => subscribed.reader.isSubscribed(), 5_000, "subscription");
  assert.is(subscribed.reader.cached("MenhirCo"), undefined, "not filled yet");
  await subscribed.reader.lookup("MenhirCo");
  const timing = newLookupTiming();
  assert.is(subscribed.reader.cached("MenhirCo", timing)?.version, 0);
  assert.is(timing.cache, "hit");
  assert.equal([(await subscribed.reader.stats()).hits, (await subscribed.reader.stats()).misses], [1, 1]);
  subscribed.fake.trade("MenhirCo", 2);
  await waitFor(async () => (await subscribed.reader.stats()).size === 0, 5_000, "invalidation");
  assert.is(subscribed.reader.cached("MenhirCo"), undefined);
});

test("until the catalog confirms the stream, lookups bypass the cache", async () => {
  const { reader, fake } = await setUp((f) => {
    f.confirmEnabled = false;
  });
  await waitFor(() => fake.subscriberCount() === 1, 5_000, "stream open");
  await reader.lookup("GameStart");
  await reader.lookup("GameStart");
  const stats = await reader.stats();
  assert.equal([reader.isSubscribed(), stats.size, stats.bypassed, stats.subscription.state], [false, 0, 2, "connecting"]);
});

test("an invalidation removes the entry and the next lookup misses and returns new data", async () => {
  const { reader, fake } = await setUp();
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  await reader.lookup("FishCo");
  fake.trade("FishCo", 5);
  await waitFor(async () => (await reader.stats()).size === 0, 5_000, "invalidation");
  const fresh = await reader.lookup("FishCo");
  assert.equal([fresh?.version, fresh?.quantity], [1, 95]);
  assert.is((await reader.stats()).misses, 2);
});

test("race: a lookup that read before a trade cannot cache pre-trade data", async () => {
  const { reader, fake } = await setUp((f) => {
    f.lookupDelayMs = 300;
  });
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  const inFlight = reader.lookup("BoarCo");
  await waitFor(() => fake.lookups === 1, 5_000, "lookup reached the catalog");
  fake.trade("BoarCo", 1);
  await waitFor(() => reader.stats().then((s) => s.subscription.invalidations === 1), 5_000, "push");
  // The slow reply carries version 0, read before the trade: returned, but not cached.
  assert.is((await inFlight)?.version, 0);
  assert.equal((await reader.stats()).keys, []);
  fake.lookupDelayMs = 0;
  assert.is((await reader.lookup("BoarCo"))?.version, 1);
});

test("read-your-writes without the push: tradeDone blocks the in-flight pre-trade fill", async () => {
  const { reader, fake } = await setUp((f) => {
    f.lookupDelayMs = 300;
    f.pushEnabled = false;
  });
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  const inFlight = reader.lookup("MenhirCo");
  await waitFor(() => fake.lookups === 1, 5_000, "lookup reached the catalog");
  fake.trade("MenhirCo", 1);
  await reader.tradeDone("MenhirCo");
  assert.is((await inFlight)?.version, 0);
  fake.lookupDelayMs = 0;
  assert.is((await reader.lookup("MenhirCo"))?.version, 1);
  assert.is((await reader.lookup("MenhirCo"))?.version, 1);
});

test("losing the stream: unsubscribed, cache cleared and bypassed; resubscribes when the catalog returns", async () => {
  const { reader, fake } = await setUp();
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  await reader.lookup("GameStart");
  const port = fake.port;
  fake.stop();
  await waitFor(() => !reader.isSubscribed(), 5_000, "break detected");
  const down = await reader.stats();
  assert.equal([down.size, down.subscription.breaks], [0, 1]);
  const err = await reader.lookup("GameStart").then(() => undefined, (e: unknown) => e);
  // (The lookup waits for the channel within its deadline, then fails: which code depends on when.)
  assert.ok(
    isServiceError(err) && [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code),
    `catalog down: the gRPC error is thrown (got ${String(err)})`,
  );
  await fake.start(port);
  await waitFor(() => reader.isSubscribed(), 10_000, "resubscription");
  assert.is((await reader.stats()).subscription.subscriptions, 2);
  await reader.lookup("GameStart");
  assert.is((await reader.lookup("GameStart"))?.name, "GameStart");
  assert.is((await reader.stats()).hits, 1);
});

test("a lookup begun before a break does not fill after the resubscription", async () => {
  const { reader, fake, cache } = await setUp((f) => {
    f.lookupDelayMs = 400;
  });
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  const inFlight = reader.lookup("FishCo");
  await waitFor(() => fake.lookups === 1, 5_000, "lookup reached the catalog");
  fake.endStreams();
  await waitFor(() => reader.stats().then((s) => s.subscription.subscriptions === 2), 5_000, "resubscription");
  assert.is((await inFlight)?.version, 0);
  assert.equal((await reader.stats()).keys, []);
  // Refused by the subscription generation before the cache is even asked (the cache's own
  // epoch check, changed by the clear on resubscribe, would refuse it as well).
  assert.is(cache.fills, 0);
});

test("an invalidation that cannot be applied breaks the stream", async () => {
  const { reader, fake } = await setUp();
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  fake.push({ name: "", version: 1 });
  await waitFor(() => reader.stats().then((s) => s.subscription.breaks === 1), 5_000, "break");
  assert.match((await reader.stats()).subscription.lastBreak ?? "", /bad invalidation/);
  await waitFor(() => reader.isSubscribed(), 5_000, "resubscription");
});

test("unknown stock: undefined, and nothing cached", async () => {
  const { reader } = await setUp();
  await waitFor(() => reader.isSubscribed(), 5_000, "subscription");
  assert.is(await reader.lookup("NoSuchCo"), undefined);
  assert.is((await reader.stats()).size, 0);
});

test("with the cache off the reader does not subscribe and every lookup asks the catalog", async () => {
  const fake = new FakeCatalog();
  await fake.start();
  const client = new CatalogClient(`127.0.0.1:${fake.port}`, grpc.credentials.createInsecure(), channelOptions);
  const reader = createStockReader({ catalog: client, cache: new NoCache(), log, lookupTimeoutMs: 2_000 });
  try {
    reader.start();
    await reader.lookup("GameStart");
    await reader.lookup("GameStart");
    const stats = await reader.stats();
    assert.equal([fake.lookups, fake.subscriberCount(), stats.subscribed, stats.bypassed, stats.backend], [2, 0, false, 2, "off"]);
  } finally {
    await reader.close();
    client.close();
    fake.stop();
  }
});

test("resubscribe delay doubles from the first to the max, with bounded jitter", () => {
  const noJitter = 0.5;
  assert.equal([0, 1, 2, 3, 10].map((a) => resubscribeDelayMs(a, 100, 1_000, noJitter)), [100, 200, 400, 800, 1_000]);
  assert.is(resubscribeDelayMs(0, 100, 1_000, 0), Math.round(100 * (1 - resubscribeJitterRatio)));
  assert.ok(resubscribeDelayMs(1_000, 100, 1_000, 0.999) <= 1_000 * (1 + resubscribeJitterRatio));
});

test.run();
