// The store with a real journal in a temp folder: trade outcomes and versions; the catalog as
// the order log's sequencer (numbers, `missing`, the epoch fence, the after_number and window
// checks, retention); calls decided in queue order within one commit; group commit; lookups;
// bounds and shutdown.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Invalidation, TradeBatchReply, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { Logger } from "../lib/log.ts";
import { missingTradesPageMax, uncommittedOrdersMax } from "../lib/protocol.ts";
import { EpochFile } from "./epoch_file.ts";
import {
  ForgottenTradesError,
  InvalidArgumentError,
  OverloadedError,
  SequenceAheadError,
  StaleEpochError,
  StockNotFoundError,
  StorageError,
  StoreClosedError,
  UncommittedWindowError,
} from "./errors.ts";
import { initialStocks } from "./initial_stocks.ts";
import { Journal } from "./journal.ts";
import { stockNameBytesMax, tradeBatchMax } from "../lib/protocol.ts";
import { tradesQueuedMax } from "./limits.ts";
import type { StoreOptions, TradeBatchHeader } from "./store.ts";
import { Store } from "./store.ts";
import { rejects } from "../test/support/throws.ts";

const log = new Logger("catalog-test", {}, "silent");
const dirs: string[] = [];
const stores: Store[] = [];

async function openStore(options: Partial<StoreOptions> = {}): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-store-"));
  dirs.push(dir);
  const store = await Store.open({ dir, log, ...options });
  stores.push(store);
  return store;
}

let nextId = 0;
function trade(name: string, side: Side, quantity: number, requestId = `t${nextId++}`): TradeRequest {
  return { requestId, name, side, quantity };
}
const buy = (name: string, quantity: number, id?: string): TradeRequest => trade(name, Side.SIDE_BUY, quantity, id);
const sell = (name: string, quantity: number, id?: string): TradeRequest => trade(name, Side.SIDE_SELL, quantity, id);
const sells = (name: string, count: number): TradeRequest[] => Array.from({ length: count }, () => sell(name, 1));

/** A header; commit_number defaults to after_number, so the window never refuses. */
function header(epoch: number, afterNumber: number, commitNumber = afterNumber): TradeBatchHeader {
  return { epoch, leaderId: 1, afterNumber, commitNumber };
}

/** Plays one order leader of one epoch: each batch continues after the last number it heard. */
class Leader {
  readonly store: Store;
  readonly epoch: number;
  last = -1;

  constructor(store: Store, epoch = 1, last = -1) {
    this.store = store;
    this.epoch = epoch;
    this.last = last;
  }

  async send(requests: readonly TradeRequest[]): Promise<TradeBatchReply> {
    const reply = await this.store.tradeBatch(header(this.epoch, this.last), requests);
    assert.equal(reply.missing, [], "the leader is never behind here");
    this.last = reply.lastNumber;
    return reply;
  }

  async one(request: TradeRequest): Promise<TradeBatchReply["results"][number]> {
    const [result] = (await this.send([request])).results;
    assert.ok(result !== undefined);
    return result;
  }
}

test.after(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test("a fresh store holds the initial stocks: quantity 100, volume 0, version 0; nothing numbered, no epoch", async () => {
  const store = await openStore();
  assert.ok(initialStocks.length >= 10);
  assert.equal(await store.lookup("GameStart"), { name: "GameStart", price: 15.99, quantity: 100, volume: 0, version: 0 });
  for (const name of ["FishCo", "BoarCo", "MenhirCo"]) assert.is((await store.lookup(name)).quantity, 100);
  assert.equal(await store.health(), { stocks: initialStocks.length, tradesApplied: 0, lastNumber: -1, epoch: 0 });
});

test("buy decrements, sell increments, both add volume, version +1 per trade", async () => {
  const leader = new Leader(await openStore());
  const bought = await leader.one(buy("FishCo", 30));
  assert.is(bought.status, TradeStatus.TRADE_OK);
  assert.equal(bought.stock, { name: "FishCo", price: 7.5, quantity: 70, volume: 30, version: 1 });
  const sold = await leader.one(sell("FishCo", 5));
  assert.equal(sold.stock, { name: "FishCo", price: 7.5, quantity: 75, volume: 35, version: 2 });
  assert.equal(await leader.store.lookup("FishCo"), sold.stock);
  assert.is((await leader.store.lookup("BoarCo")).version, 0, "other stocks keep their version");
});

test("insufficient quantity: TRADE_INSUFFICIENT_QUANTITY with the stock as it is, nothing changes", async () => {
  const leader = new Leader(await openStore());
  const reply = await leader.one(buy("BoarCo", 101));
  assert.is(reply.status, TradeStatus.TRADE_INSUFFICIENT_QUANTITY);
  assert.equal(reply.stock, { name: "BoarCo", price: 22.25, quantity: 100, volume: 0, version: 0 });
  assert.is((await leader.one(buy("BoarCo", 100))).status, TradeStatus.TRADE_OK, "exactly the quantity is fine");
  assert.is((await leader.store.lookup("BoarCo")).quantity, 0);
});

test("unknown stock and invalid trades change nothing and take no number", async () => {
  const leader = new Leader(await openStore());
  const reply = await leader.send([
    buy("NoSuchCo", 1),
    trade("MenhirCo", Side.SIDE_UNSPECIFIED, 1),
    buy("MenhirCo", 0),
    sell("MenhirCo", -3),
    buy("MenhirCo", 1, ""),
  ]);
  assert.equal(reply.results.map((r) => [r.status, r.number]), [
    [TradeStatus.TRADE_UNKNOWN_STOCK, 0],
    [TradeStatus.TRADE_INVALID, 0],
    [TradeStatus.TRADE_INVALID, 0],
    [TradeStatus.TRADE_INVALID, 0],
    [TradeStatus.TRADE_INVALID, 0],
  ]);
  assert.is(reply.lastNumber, -1);
  assert.equal(await leader.store.health(), { stocks: initialStocks.length, tradesApplied: 0, lastNumber: -1, epoch: 1 });
});

test("lookup: unknown is StockNotFoundError; empty or oversized name is InvalidArgumentError", async () => {
  const store = await openStore();
  await rejects(store.lookup("NoSuchCo"), StockNotFoundError);
  await rejects(store.lookup("gamestart"), StockNotFoundError);
  await rejects(store.lookup(""), InvalidArgumentError);
  await rejects(store.lookup("x".repeat(stockNameBytesMax + 1)), InvalidArgumentError);
  await rejects(store.lookup("x".repeat(stockNameBytesMax)), StockNotFoundError);
});

test("numbering: applied trades take consecutive numbers across batches, failed ones none", async () => {
  const leader = new Leader(await openStore());
  const first = await leader.send([sell("DruidCo", 1), buy("DruidCo", 500), sell("DruidCo", 2)]);
  assert.equal(first.results.map((r) => [r.status, r.number]), [
    [TradeStatus.TRADE_OK, 0],
    [TradeStatus.TRADE_INSUFFICIENT_QUANTITY, 0],
    [TradeStatus.TRADE_OK, 1],
  ]);
  assert.is(first.lastNumber, 1);
  const second = await leader.send([buy("NoSuchCo", 1), buy("DruidCo", 3)]);
  assert.equal(second.results.map((r) => r.number), [0, 2]);
  assert.is(second.lastNumber, 2);
  const empty = await leader.send([]);
  assert.equal(empty, { results: [], missing: [], lastNumber: 2, durableMs: 0 });
  assert.equal(await leader.store.health(), { stocks: initialStocks.length, tradesApplied: 3, lastNumber: 2, epoch: 1 });
});

test("a request id numbered before is TRADE_INVALID, changes nothing and takes no number", async () => {
  const leader = new Leader(await openStore());
  await leader.one(buy("PotionCo", 10, "order-1"));
  const again = await leader.one(buy("PotionCo", 10, "order-1"));
  assert.equal([again.status, again.number, again.message], [TradeStatus.TRADE_INVALID, 0, "request_id already numbered as order 0"]);
  assert.is(leader.last, 0);
  assert.equal(await leader.store.lookup("PotionCo"), { name: "PotionCo", price: 99.95, quantity: 90, volume: 10, version: 1 });
});

test("missing: an after_number behind gets exactly the trades after it, with numbers and epochs; nothing is applied", async () => {
  const store = await openStore();
  const old = new Leader(store, 1);
  await old.send([sell("BardCo", 1, "m0"), buy("BardCo", 2, "m1")]);
  const next = new Leader(store, 2, old.last);
  await next.send([sell("HelmetCo", 3, "m2")]);
  const before = await store.lookup("HelmetCo");
  const reply = await store.tradeBatch(header(3, 0), [sell("HelmetCo", 1, "m3")]);
  assert.equal(reply, {
    results: [],
    missing: [
      { number: 1, epoch: 1, requestId: "m1", name: "BardCo", side: Side.SIDE_BUY, quantity: 2 },
      { number: 2, epoch: 2, requestId: "m2", name: "HelmetCo", side: Side.SIDE_SELL, quantity: 3 },
    ],
    lastNumber: 2,
    durableMs: 0,
  });
  assert.equal(await store.lookup("HelmetCo"), before, "nothing of the batch was applied");
  assert.equal((await store.health()).epoch, 3, "a missing reply still raises the epoch");
  // The leader adopts them and sends the batch again: now it is applied after them.
  const applied = await store.tradeBatch(header(3, reply.lastNumber), [sell("HelmetCo", 1, "m3")]);
  assert.equal([applied.results[0]?.number, applied.lastNumber, applied.missing], [3, 3, []]);
  // From an empty log: every trade.
  const all = await store.tradeBatch(header(3, -1), []);
  assert.equal(all.missing.map((t) => [t.number, t.requestId]), [[0, "m0"], [1, "m1"], [2, "m2"], [3, "m3"]]);
});

test("missing is paged: at most missingTradesPageMax trades per reply, the leader asks again", async () => {
  const leader = new Leader(await openStore());
  const names = initialStocks.map((s) => s.name);
  let sent = 0;
  while (sent <= missingTradesPageMax) {
    await leader.send(Array.from({ length: tradeBatchMax }, (_, i) => sell(names[i % names.length] as string, 1)));
    sent += tradeBatchMax;
  }
  const first = await leader.store.tradeBatch(header(1, -1), []);
  assert.is(first.missing.length, missingTradesPageMax);
  assert.equal([first.missing[0]?.number, first.missing[missingTradesPageMax - 1]?.number], [0, missingTradesPageMax - 1]);
  const rest = await leader.store.tradeBatch(header(1, missingTradesPageMax - 1), []);
  assert.is(rest.missing.length, sent - missingTradesPageMax);
  assert.is(rest.missing[rest.missing.length - 1]?.number, sent - 1);
});

test("stale epoch: after a newer epoch was seen, an older one is refused and nothing is applied", async () => {
  const store = await openStore();
  await new Leader(store, 2).send([sell("SickleCo", 1)]);
  const err = await rejects(store.tradeBatch(header(1, 0), [sell("SickleCo", 1)]), StaleEpochError);
  assert.match(err.message, /epoch 1 is older than epoch 2/);
  await rejects(store.tradeBatch(header(1, -1), []), StaleEpochError);
  assert.is((await store.lookup("SickleCo")).version, 1);
  assert.is((await store.tradeBatch(header(2, 0), [sell("SickleCo", 1)])).lastNumber, 1, "the same epoch goes on");
});

test("ahead: an after_number past the catalog's last number is SequenceAheadError (data loss)", async () => {
  const store = await openStore();
  await rejects(store.tradeBatch(header(1, 0), [sell("ShieldCo", 1)]), SequenceAheadError);
  await new Leader(store).send([sell("ShieldCo", 1)]);
  await rejects(store.tradeBatch(header(1, 1), []), SequenceAheadError);
  assert.equal(await store.health(), { stocks: initialStocks.length, tradesApplied: 1, lastNumber: 0, epoch: 1 });
});

test("invalid headers are InvalidArgumentError: epoch below 1, after_number below -1, commit_number past after_number", async () => {
  const store = await openStore();
  await rejects(store.tradeBatch(header(0, -1), []), InvalidArgumentError);
  await rejects(store.tradeBatch(header(1, -2), []), InvalidArgumentError);
  await rejects(store.tradeBatch(header(1, -1, 0), []), InvalidArgumentError);
  await rejects(store.tradeBatch(header(1, -1, -2), []), InvalidArgumentError);
  assert.equal((await store.health()).epoch, 0, "a refused header raises no epoch");
});

test("window: at most uncommittedOrdersMax numbered trades after the commit point, the limit and one past it", async () => {
  const leader = new Leader(await openStore());
  while (leader.last + 1 < uncommittedOrdersMax) {
    const reply = await leader.store.tradeBatch(header(1, leader.last, -1), sells("MistletoeCo", tradeBatchMax));
    leader.last = reply.lastNumber;
  }
  assert.is(leader.last, uncommittedOrdersMax - 1);
  await rejects(leader.store.tradeBatch(header(1, leader.last, -1), sells("MistletoeCo", 1)), UncommittedWindowError);
  assert.is((await leader.store.tradeBatch(header(1, leader.last, -1), [])).lastNumber, leader.last, "an empty batch fits");
  const atLimit = await leader.store.tradeBatch(header(1, leader.last, 0), sells("MistletoeCo", 1));
  assert.is(atLimit.lastNumber, uncommittedOrdersMax);
});

test("forgotten: an after_number behind the kept trades is ForgottenTradesError; just inside gets them", async () => {
  const leader = new Leader(await openStore({ retainedTradesMax: 3 }));
  await leader.send(sells("ChariotCo", 6));
  await rejects(leader.store.tradeBatch(header(1, 1), []), ForgottenTradesError);
  const kept = await leader.store.tradeBatch(header(1, 2), []);
  assert.equal(kept.missing.map((t) => t.number), [3, 4, 5]);
});

test("one commit: two calls with the same after_number, the second gets the first's trades as missing", async () => {
  const store = await openStore();
  const commits = store.commits;
  const flushes = store.journalFlushes;
  const [a, b] = await Promise.all([
    store.tradeBatch(header(1, -1), [sell("GameStart", 1, "a1"), sell("FishCo", 2, "a2")]),
    store.tradeBatch(header(1, -1), [sell("GameStart", 5, "b1")]),
  ]);
  assert.equal([store.commits - commits, store.journalFlushes - flushes], [1, 1], "one commit, one flush");
  assert.equal(a?.results.map((r) => r.number), [0, 1]);
  assert.equal(b, {
    results: [],
    missing: [
      { number: 0, epoch: 1, requestId: "a1", name: "GameStart", side: Side.SIDE_SELL, quantity: 1 },
      { number: 1, epoch: 1, requestId: "a2", name: "FishCo", side: Side.SIDE_SELL, quantity: 2 },
    ],
    lastNumber: 1,
    durableMs: 0,
  });
  assert.is((await store.lookup("GameStart")).quantity, 101);
});

test("one commit: calls see the epoch, numbers, stocks and request ids the earlier ones left", async () => {
  const store = await openStore();
  const [raised, stale, next, reused] = await Promise.allSettled([
    store.tradeBatch(header(5, -1), [buy("BoarCo", 60, "e1")]),
    store.tradeBatch(header(4, 0), [sell("BoarCo", 1, "e2")]),
    store.tradeBatch(header(5, 0), [buy("BoarCo", 60, "e3"), buy("BoarCo", 40, "e4")]),
    store.tradeBatch(header(5, 1), [sell("BoarCo", 1, "e1")]),
  ]);
  assert.is(store.commits, 1);
  assert.ok(raised.status === "fulfilled" && stale.status === "rejected" && next.status === "fulfilled" && reused.status === "fulfilled");
  assert.instance(stale.reason, StaleEpochError);
  assert.equal(next.value.results.map((r) => [r.status, r.number, r.stock?.quantity]), [
    [TradeStatus.TRADE_INSUFFICIENT_QUANTITY, 0, 40],
    [TradeStatus.TRADE_OK, 1, 0],
  ]);
  assert.equal([reused.value.results[0]?.status, reused.value.results[0]?.message], [
    TradeStatus.TRADE_INVALID,
    "request_id already numbered as order 0",
  ]);
  assert.equal(await store.health(), { stocks: initialStocks.length, tradesApplied: 2, lastNumber: 1, epoch: 5 });
});

test("group commit: calls queued together are one commit and one flush, numbered in queue order", async () => {
  const store = await openStore();
  const flushesBefore = store.journalFlushes;
  const calls = 40;
  const size = 10;
  const replies = await Promise.all(
    Array.from({ length: calls }, (_, i) => store.tradeBatch(header(1, i * size - 1), sells("ChariotCo", size))),
  );
  assert.is(store.journalFlushes - flushesBefore, 1);
  for (const [i, reply] of replies.entries()) {
    assert.equal(reply.results.map((r) => r.number), Array.from({ length: size }, (_, k) => i * size + k));
    assert.is(reply.lastNumber, (i + 1) * size - 1, "each call hears the last number as it left it");
  }
  const stock = await store.lookup("ChariotCo");
  assert.equal([stock.quantity, stock.version], [100 + calls * size, calls * size]);
});

test("a lookup racing a trade sees the old or the new state; after the reply always the new", async () => {
  const leader = new Leader(await openStore());
  const pending = leader.send([buy("ShieldCo", 1)]);
  const during = await leader.store.lookup("ShieldCo");
  assert.ok(during.version === 0 || during.version === 1);
  await pending;
  assert.is((await leader.store.lookup("ShieldCo")).version, 1);
});

test("while a commit waits for its fsync, lookups are served and still see the durable state", async () => {
  const leader = new Leader(await openStore());
  const append = Journal.prototype.append;
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let appending = false;
  Journal.prototype.append = function (this: Journal, rows) {
    appending = true;
    return gate.then(() => append.call(this, rows));
  };
  try {
    const pending = leader.send([sell("GameStart", 1)]);
    while (!appending) await new Promise((r) => setImmediate(r));
    assert.is((await leader.store.lookup("GameStart")).version, 0, "not durable yet, so not visible");
    assert.is((await leader.store.health()).lastNumber, -1, "nor its number");
    release();
    assert.is((await pending).results[0]?.stock?.version, 1);
    assert.is((await leader.store.lookup("GameStart")).version, 1);
  } finally {
    Journal.prototype.append = append;
    release();
  }
});

test("a raised epoch is made durable before the journal append and before the answer", async () => {
  const store = await openStore();
  const events: string[] = [];
  const write = EpochFile.prototype.write;
  const append = Journal.prototype.append;
  EpochFile.prototype.write = function (this: EpochFile, epoch) {
    return write.call(this, epoch).then(() => {
      events.push(`epoch ${epoch}`);
    });
  };
  Journal.prototype.append = function (this: Journal, rows) {
    return append.call(this, rows).then(() => {
      events.push(`append ${rows.length}`);
    });
  };
  try {
    await store.tradeBatch(header(3, -1), [sell("FishCo", 1)]).then(() => events.push("answered"));
    await store.tradeBatch(header(3, 0), [sell("FishCo", 1)]).then(() => events.push("answered"));
    await store.tradeBatch(header(4, -1), []).then(() => events.push("answered missing"));
  } finally {
    EpochFile.prototype.write = write;
    Journal.prototype.append = append;
  }
  assert.equal(events, ["epoch 3", "append 1", "answered", "append 1", "answered", "epoch 4", "answered missing"]);
});

test("a failed epoch write fails the call and every later one; nothing is applied", async () => {
  const store = await openStore();
  await new Leader(store, 1).send([sell("FishCo", 1)]);
  const write = EpochFile.prototype.write;
  EpochFile.prototype.write = () => Promise.reject(new Error("EIO: simulated"));
  try {
    await rejects(store.tradeBatch(header(2, 0), [sell("FishCo", 1)]), StorageError);
  } finally {
    EpochFile.prototype.write = write;
  }
  await rejects(store.tradeBatch(header(1, 0), [sell("FishCo", 1)]), StorageError);
  await rejects(store.health(), StorageError);
  assert.is((await store.lookup("FishCo")).version, 1, "nothing was installed");
});

test("a failed journal write fails its trades and every later one; lookups go on; Health reports it", async () => {
  const leader = new Leader(await openStore());
  const append = Journal.prototype.append;
  Journal.prototype.append = () => Promise.reject(new Error("EIO: simulated"));
  try {
    await rejects(leader.send([sell("FishCo", 1)]), StorageError);
  } finally {
    Journal.prototype.append = append;
  }
  await rejects(leader.send([sell("FishCo", 1)]), StorageError);
  await rejects(leader.store.health(), StorageError);
  assert.is((await leader.store.lookup("FishCo")).version, 0, "nothing was installed");
});

test("tradeBatch: replies in order; more than tradeBatchMax is refused, tradeBatchMax is fine", async () => {
  const leader = new Leader(await openStore());
  const reply = await leader.send([sell("HelmetCo", 5), buy("HelmetCo", 105), buy("HelmetCo", 1), buy("NoSuchCo", 1)]);
  assert.equal(reply.results.map((r) => r.status), [
    TradeStatus.TRADE_OK,
    TradeStatus.TRADE_OK,
    TradeStatus.TRADE_INSUFFICIENT_QUANTITY,
    TradeStatus.TRADE_UNKNOWN_STOCK,
  ]);
  const tooMany = sells("HelmetCo", tradeBatchMax + 1);
  await rejects(leader.store.tradeBatch(header(1, leader.last), tooMany), InvalidArgumentError);
  assert.is((await leader.send(tooMany.slice(1))).results.length, tradeBatchMax);
});

test("invalidations: one per changed stock and commit, with the installed version", async () => {
  const leader = new Leader(await openStore());
  const seen: Invalidation[][] = [];
  leader.store.onCommit((invalidations) => seen.push(invalidations));
  await leader.send([sell("SickleCo", 1), sell("SickleCo", 1), sell("FishCo", 1), buy("NoSuchCo", 1)]);
  assert.equal(seen, [[{ name: "SickleCo", version: 2 }, { name: "FishCo", version: 1 }]]);
  await leader.send([buy("SickleCo", 1000)]);
  await leader.store.tradeBatch(header(1, -1), []);
  assert.is(seen.length, 1, "a failed trade or a missing reply publishes nothing");
});

test("the queue is bounded: past tradesQueuedMax trades (an empty batch counts one) calls fail with OverloadedError", async () => {
  const store = await openStore();
  const calls: Promise<TradeBatchReply>[] = [];
  let queued = 0;
  while (queued < tradesQueuedMax) {
    const size = Math.min(tradeBatchMax, tradesQueuedMax - queued);
    calls.push(store.tradeBatch(header(1, queued - 1), sells("MistletoeCo", size)));
    queued += size;
  }
  // Both in the same step as the filling calls: the batcher starts taking jobs at its first await.
  const oneMore = store.tradeBatch(header(1, queued - 1), sells("MistletoeCo", 1));
  const emptyMore = store.tradeBatch(header(1, queued - 1), []);
  await rejects(oneMore, OverloadedError);
  await rejects(emptyMore, OverloadedError);
  const replies = await Promise.all(calls);
  assert.ok(replies.every((r) => r.results.every((t) => t.status === TradeStatus.TRADE_OK)));
  assert.is((await store.health()).tradesApplied, tradesQueuedMax);
});

test("close finishes queued trades, then refuses new ones with StoreClosedError", async () => {
  const store = await openStore();
  const queued = store.tradeBatch(header(1, -1), [sell("GameStart", 1)]);
  const closed = store.close();
  await rejects(store.tradeBatch(header(1, 0), [sell("GameStart", 1)]), StoreClosedError);
  assert.is((await queued).results[0]?.status, TradeStatus.TRADE_OK);
  await closed;
});

test.run();
