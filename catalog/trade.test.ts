// The pure trade rules, without files or locks: limits at the bound and one past it, and
// how planCommit orders, numbers and answers the trades of one commit, refusing request ids
// that were numbered before.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { orderQuantityMax, stockNameBytesMax } from "../lib/protocol.ts";
import { stockQuantityMax } from "./limits.ts";
import type { AppliedTrade, StockState } from "./trade.ts";
import { appliedTradeProblem, applyTrade, planCommit, stockStateProblem } from "./trade.ts";

const fresh: StockState = { price: 15.99, quantity: 100, volume: 0, version: 0 };

function req(requestId: string, name: string, side: Side, quantity: number): TradeRequest {
  return { requestId, name, side, quantity };
}

const numbering = { firstNumber: 0, epoch: 1 };

test("applyTrade: buy decrements, sell increments, both add volume and one version", () => {
  assert.equal(applyTrade(fresh, "buy", 30), { ok: true, after: { price: 15.99, quantity: 70, volume: 30, version: 1 } });
  assert.equal(applyTrade(fresh, "sell", 5), { ok: true, after: { price: 15.99, quantity: 105, volume: 5, version: 1 } });
});

test("applyTrade: a buy of exactly the quantity succeeds, one more is insufficient", () => {
  assert.is(applyTrade(fresh, "buy", 100).ok, true);
  const outcome = applyTrade(fresh, "buy", 101);
  assert.equal(outcome, { ok: false, status: TradeStatus.TRADE_INSUFFICIENT_QUANTITY, message: "insufficient quantity" });
});

test("applyTrade: a sell may reach stockQuantityMax but not pass it", () => {
  const full: StockState = { ...fresh, quantity: stockQuantityMax - 1 };
  assert.is(applyTrade(full, "sell", 1).ok, true);
  const outcome = applyTrade(full, "sell", 2);
  assert.is(outcome.ok, false);
  if (!outcome.ok) assert.is(outcome.status, TradeStatus.TRADE_INVALID);
});

test("applyTrade: volume never passes its maximum", () => {
  const busy: StockState = { ...fresh, volume: Number.MAX_SAFE_INTEGER - 1 };
  assert.is(applyTrade(busy, "sell", 1).ok, true);
  assert.is(applyTrade(busy, "sell", 2).ok, false);
});

test("planCommit: quantity limits at the bound and one past it", () => {
  const stocks = new Map([["GameStart", { ...fresh, quantity: orderQuantityMax }]]);
  const plan = planCommit(stocks, new Map(), [
    req("a", "GameStart", Side.SIDE_BUY, orderQuantityMax),
    req("b", "GameStart", Side.SIDE_SELL, orderQuantityMax + 1),
    req("c", "GameStart", Side.SIDE_SELL, 0),
    req("d", "GameStart", Side.SIDE_SELL, -1),
    req("e", "GameStart", Side.SIDE_SELL, 1.5),
  ], numbering);
  assert.equal(plan.replies.map((r) => r.status), [
    TradeStatus.TRADE_OK,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_INVALID,
  ]);
});

test("planCommit: unknown stock, unspecified side, bad names", () => {
  const stocks = new Map([["GameStart", fresh]]);
  const plan = planCommit(stocks, new Map(), [
    req("a", "NoSuchCo", Side.SIDE_BUY, 1),
    req("b", "GameStart", Side.SIDE_UNSPECIFIED, 1),
    req("c", "GameStart", Side.UNRECOGNIZED, 1),
    req("d", "", Side.SIDE_BUY, 1),
    req("e", "x".repeat(stockNameBytesMax + 1), Side.SIDE_BUY, 1),
    req("f", "gamestart", Side.SIDE_BUY, 1),
  ], numbering);
  assert.equal(plan.replies.map((r) => r.status), [
    TradeStatus.TRADE_UNKNOWN_STOCK,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_INVALID,
    TradeStatus.TRADE_UNKNOWN_STOCK,
  ]);
  assert.is(plan.applied.length, 0);
  assert.is(plan.changed.size, 0);
});

test("planCommit: trades see the ones before them and take consecutive numbers; failed ones take none", () => {
  const stocks = new Map([["GameStart", fresh]]);
  const plan = planCommit(stocks, new Map(), [
    req("a", "GameStart", Side.SIDE_SELL, 5),
    req("b", "GameStart", Side.SIDE_BUY, 105),
    req("c", "GameStart", Side.SIDE_BUY, 1),
    req("d", "GameStart", Side.SIDE_SELL, 2),
  ], { firstNumber: 40, epoch: 3 });
  assert.equal(plan.replies.map((r) => [r.status, r.number, r.stock?.quantity, r.stock?.version]), [
    [TradeStatus.TRADE_OK, 40, 105, 1],
    [TradeStatus.TRADE_OK, 41, 0, 2],
    [TradeStatus.TRADE_INSUFFICIENT_QUANTITY, 0, 0, 2],
    [TradeStatus.TRADE_OK, 42, 2, 3],
  ]);
  assert.equal(plan.applied.map((r) => [r.number, r.epoch, r.requestId]), [[40, 3, "a"], [41, 3, "b"], [42, 3, "d"]]);
  assert.equal(plan.changed.get("GameStart"), { price: 15.99, quantity: 2, volume: 112, version: 3 });
  assert.equal(stocks.get("GameStart"), fresh, "the committed table is not touched");
});

test("planCommit: an id numbered before, or earlier in the same commit, is TRADE_INVALID and takes no number", () => {
  const stocks = new Map([["GameStart", fresh]]);
  const plan = planCommit(stocks, new Map([["old", 7]]), [
    req("old", "GameStart", Side.SIDE_BUY, 1),
    req("a", "GameStart", Side.SIDE_SELL, 5),
    req("a", "GameStart", Side.SIDE_SELL, 5),
    req("b", "GameStart", Side.SIDE_BUY, 1),
  ], { firstNumber: 8, epoch: 2 });
  assert.equal(plan.replies.map((r) => [r.status, r.number]), [
    [TradeStatus.TRADE_INVALID, 0],
    [TradeStatus.TRADE_OK, 8],
    [TradeStatus.TRADE_INVALID, 0],
    [TradeStatus.TRADE_OK, 9],
  ]);
  assert.match(plan.replies[0]?.message ?? "", /already numbered as order 7/);
  assert.match(plan.replies[2]?.message ?? "", /already numbered as order 8/);
  assert.equal(plan.applied.map((r) => r.requestId), ["a", "b"]);
  assert.equal(plan.changed.get("GameStart"), { price: 15.99, quantity: 104, volume: 6, version: 2 });
});

test("validators: stock states and journal rows out of range are named", () => {
  assert.is(stockStateProblem("GameStart", fresh), undefined);
  assert.ok(stockStateProblem("Game,Start", fresh));
  assert.ok(stockStateProblem("GameStart", { ...fresh, price: 0 }));
  assert.ok(stockStateProblem("GameStart", { ...fresh, price: 1e-7 }));
  assert.ok(stockStateProblem("GameStart", { ...fresh, quantity: -1 }));
  assert.ok(stockStateProblem("GameStart", { ...fresh, version: 0.5 }));
  const row: AppliedTrade = {
    number: 0,
    epoch: 1,
    requestId: "a",
    name: "GameStart",
    side: "sell",
    quantity: 1,
    quantityAfter: 101,
    volumeAfter: 1,
    versionAfter: 1,
  };
  assert.is(appliedTradeProblem(row), undefined);
  assert.ok(appliedTradeProblem({ ...row, number: -1 }));
  assert.ok(appliedTradeProblem({ ...row, epoch: 0 }));
  assert.ok(appliedTradeProblem({ ...row, versionAfter: 0 }));
  assert.ok(appliedTradeProblem({ ...row, volumeAfter: 0 }));
  assert.ok(appliedTradeProblem({ ...row, quantity: orderQuantityMax + 1 }));
});

test.run();
