// The store with a real journal in a temp folder: trade outcomes, versions, dedupe (across
// commits and within one), group commit, lookups, bounds and shutdown.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Invalidation, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { Logger } from "../lib/log.ts";
import { Journal } from "./journal.ts";
import { InvalidArgumentError, OverloadedError, StockNotFoundError, StorageError, StoreClosedError } from "./errors.ts";
import { initialStocks } from "./initial_stocks.ts";
import { stockNameBytesMax, tradeBatchMax, tradesQueuedMax } from "./limits.ts";
import { Store } from "./store.ts";

const log = new Logger("catalog-test", {}, "silent");
const dirs: string[] = [];
const stores: Store[] = [];

async function openStore(): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-store-"));
  dirs.push(dir);
  const store = await Store.open({ dir, log });
  stores.push(store);
  return store;
}

let nextId = 0;
function trade(name: string, side: Side, quantity: number, requestId = `t${nextId++}`): TradeRequest {
  return { requestId, name, side, quantity };
}
const buy = (name: string, quantity: number, id?: string): TradeRequest => trade(name, Side.SIDE_BUY, quantity, id);
const sell = (name: string, quantity: number, id?: string): TradeRequest => trade(name, Side.SIDE_SELL, quantity, id);

async function rejects(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, type);
    return err as Error;
  }
  throw new Error(`expected a ${type.name}`);
}

test.after(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test("a fresh store holds the initial stocks: quantity 100, volume 0, version 0", async () => {
  const store = await openStore();
  assert.ok(initialStocks.length >= 10);
  assert.equal(await store.lookup("GameStart"), { name: "GameStart", price: 15.99, quantity: 100, volume: 0, version: 0 });
  for (const name of ["FishCo", "BoarCo", "MenhirCo"]) assert.is((await store.lookup(name)).quantity, 100);
});

test("buy decrements, sell increments, both add volume, version +1 per trade", async () => {
  const store = await openStore();
  const bought = await store.trade(buy("FishCo", 30));
  assert.is(bought.status, TradeStatus.TRADE_OK);
  assert.is(bought.duplicate, false);
  assert.equal(bought.stock, { name: "FishCo", price: 7.5, quantity: 70, volume: 30, version: 1 });
  const sold = await store.trade(sell("FishCo", 5));
  assert.equal(sold.stock, { name: "FishCo", price: 7.5, quantity: 75, volume: 35, version: 2 });
  assert.equal(await store.lookup("FishCo"), sold.stock);
  assert.is((await store.lookup("BoarCo")).version, 0, "other stocks keep their version");
});

test("insufficient quantity: TRADE_INSUFFICIENT_QUANTITY with the stock as it is, nothing changes", async () => {
  const store = await openStore();
  const reply = await store.trade(buy("BoarCo", 101));
  assert.is(reply.status, TradeStatus.TRADE_INSUFFICIENT_QUANTITY);
  assert.equal(reply.stock, { name: "BoarCo", price: 22.25, quantity: 100, volume: 0, version: 0 });
  assert.is((await store.trade(buy("BoarCo", 100))).status, TradeStatus.TRADE_OK, "exactly the quantity is fine");
  assert.is((await store.lookup("BoarCo")).quantity, 0);
});

test("unknown stock and invalid trades change nothing", async () => {
  const store = await openStore();
  assert.is((await store.trade(buy("NoSuchCo", 1))).status, TradeStatus.TRADE_UNKNOWN_STOCK);
  assert.is((await store.trade(trade("MenhirCo", Side.SIDE_UNSPECIFIED, 1))).status, TradeStatus.TRADE_INVALID);
  assert.is((await store.trade(buy("MenhirCo", 0))).status, TradeStatus.TRADE_INVALID);
  assert.is((await store.trade(sell("MenhirCo", -3))).status, TradeStatus.TRADE_INVALID);
  assert.is((await store.trade(buy("MenhirCo", 1, ""))).status, TradeStatus.TRADE_INVALID);
  assert.equal((await store.health()).tradesApplied, 0);
});

test("lookup: unknown is StockNotFoundError; empty or oversized name is InvalidArgumentError", async () => {
  const store = await openStore();
  await rejects(store.lookup("NoSuchCo"), StockNotFoundError);
  await rejects(store.lookup("gamestart"), StockNotFoundError);
  await rejects(store.lookup(""), InvalidArgumentError);
  await rejects(store.lookup("x".repeat(stockNameBytesMax + 1)), InvalidArgumentError);
  await rejects(store.lookup("x".repeat(stockNameBytesMax)), StockNotFoundError);
});

test("dedupe: a retried request id gets the recorded reply with duplicate=true and changes nothing", async () => {
  const store = await openStore();
  const first = await store.trade(buy("PotionCo", 10, "order-1"));
  await store.trade(sell("PotionCo", 3));
  const retry = await store.trade(buy("PotionCo", 10, "order-1"));
  assert.is(retry.status, TradeStatus.TRADE_OK);
  assert.is(retry.duplicate, true);
  assert.equal(retry.stock, first.stock, "the recorded state, not the current one");
  assert.equal(await store.lookup("PotionCo"), { name: "PotionCo", price: 99.95, quantity: 93, volume: 13, version: 2 });
});

test("dedupe within one commit: the same id twice in a batch, and in two concurrent calls", async () => {
  const store = await openStore();
  const replies = await store.tradeBatch([sell("DruidCo", 4, "dup-a"), sell("DruidCo", 4, "dup-a")]);
  assert.equal(replies.map((r) => r.duplicate), [false, true]);
  assert.equal(replies[1]?.stock, replies[0]?.stock);
  const [x, y] = await Promise.all([store.trade(buy("DruidCo", 2, "dup-b")), store.trade(buy("DruidCo", 2, "dup-b"))]);
  assert.equal([x.duplicate, y.duplicate], [false, true]);
  assert.equal(await store.lookup("DruidCo"), { name: "DruidCo", price: 63.1, quantity: 102, volume: 6, version: 2 });
});

test("a failed trade is not recorded: its retry is evaluated again", async () => {
  const store = await openStore();
  assert.is((await store.trade(buy("BardCo", 150, "later"))).status, TradeStatus.TRADE_INSUFFICIENT_QUANTITY);
  await store.trade(sell("BardCo", 50));
  const retry = await store.trade(buy("BardCo", 150, "later"));
  assert.is(retry.status, TradeStatus.TRADE_OK);
  assert.is(retry.duplicate, false);
  assert.is(retry.stock?.quantity, 0);
});

test("group commit: many concurrent trades share a few flushes", async () => {
  const store = await openStore();
  const flushesBefore = store.journalFlushes;
  const count = 500;
  const replies = await Promise.all(Array.from({ length: count }, () => store.trade(sell("ChariotCo", 1))));
  assert.ok(replies.every((r) => r.status === TradeStatus.TRADE_OK));
  const flushes = store.journalFlushes - flushesBefore;
  assert.ok(flushes >= 1 && flushes <= 3, `500 trades took ${flushes} flushes`);
  const stock = await store.lookup("ChariotCo");
  assert.equal([stock.quantity, stock.version], [100 + count, count]);
  assert.equal(replies.map((r) => r.stock?.version).sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: count }, (_, i) => i + 1));
});

test("a lookup racing a trade sees the old or the new state; after the reply always the new", async () => {
  const store = await openStore();
  const pending = store.trade(buy("ShieldCo", 1));
  const during = await store.lookup("ShieldCo");
  assert.ok(during.version === 0 || during.version === 1);
  await pending;
  assert.is((await store.lookup("ShieldCo")).version, 1);
});

test("while a commit waits for its fsync, lookups are served and still see the durable state", async () => {
  const store = await openStore();
  const append = Journal.prototype.append;
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let appending = false;
  Journal.prototype.append = function (this: Journal, rows) {
    appending = true;
    return gate.then(() => append.call(this, rows));
  };
  try {
    const pending = store.trade(sell("GameStart", 1));
    while (!appending) await new Promise((r) => setImmediate(r));
    assert.is((await store.lookup("GameStart")).version, 0, "not durable yet, so not visible");
    release();
    assert.is((await pending).stock?.version, 1);
    assert.is((await store.lookup("GameStart")).version, 1);
  } finally {
    Journal.prototype.append = append;
    release();
  }
});

test("a failed journal write fails its trades and every later one; lookups go on; Health reports it", async () => {
  const store = await openStore();
  const append = Journal.prototype.append;
  Journal.prototype.append = () => Promise.reject(new Error("EIO: simulated"));
  try {
    await rejects(store.trade(sell("FishCo", 1)), StorageError);
  } finally {
    Journal.prototype.append = append;
  }
  await rejects(store.trade(sell("FishCo", 1)), StorageError);
  await rejects(store.health(), StorageError);
  assert.is((await store.lookup("FishCo")).version, 0, "nothing was installed");
});

test("tradeBatch: replies in order; empty batch; more than tradeBatchMax is refused", async () => {
  const store = await openStore();
  const replies = await store.tradeBatch([sell("HelmetCo", 5), buy("HelmetCo", 105), buy("HelmetCo", 1), buy("NoSuchCo", 1)]);
  assert.equal(replies.map((r) => r.status), [TradeStatus.TRADE_OK, TradeStatus.TRADE_OK, TradeStatus.TRADE_INSUFFICIENT_QUANTITY, TradeStatus.TRADE_UNKNOWN_STOCK]);
  assert.equal(await store.tradeBatch([]), []);
  const tooMany = Array.from({ length: tradeBatchMax + 1 }, () => sell("HelmetCo", 1));
  await rejects(store.tradeBatch(tooMany), InvalidArgumentError);
  assert.is((await store.tradeBatch(tooMany.slice(1))).length, tradeBatchMax);
});

test("invalidations: one per changed stock and commit, with the installed version", async () => {
  const store = await openStore();
  const seen: Invalidation[][] = [];
  store.onCommit((invalidations) => seen.push(invalidations));
  await store.tradeBatch([sell("SickleCo", 1), sell("SickleCo", 1), sell("FishCo", 1), buy("NoSuchCo", 1)]);
  assert.equal(seen, [[{ name: "SickleCo", version: 2 }, { name: "FishCo", version: 1 }]]);
  await store.trade(buy("SickleCo", 1000));
  assert.is(seen.length, 1, "a failed trade publishes nothing");
});

test("the trade queue is bounded: past tradesQueuedMax trades fail with OverloadedError", async () => {
  const store = await openStore();
  const calls = Array.from({ length: tradesQueuedMax + 1 }, () => store.trade(sell("MistletoeCo", 1)));
  await rejects(calls[tradesQueuedMax] as Promise<unknown>, OverloadedError);
  const replies = await Promise.all(calls.slice(0, tradesQueuedMax));
  assert.ok(replies.every((r) => r.status === TradeStatus.TRADE_OK));
  assert.is((await store.health()).tradesApplied, tradesQueuedMax);
});

test("close finishes queued trades, then refuses new ones with StoreClosedError", async () => {
  const store = await openStore();
  const queued = store.trade(sell("GameStart", 1));
  const closed = store.close();
  await rejects(store.trade(sell("GameStart", 1)), StoreClosedError);
  assert.is((await queued).status, TradeStatus.TRADE_OK);
  await closed;
});

test.run();
