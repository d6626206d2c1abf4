// The rules every service shares: request ids at their byte bound and one past it, every
// character class a CSV row cannot hold unquoted, stock-name sizes and order quantities.

import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  orderQuantityMax,
  orderQuantityProblem,
  placeBatchMax,
  requestIdBytesMax,
  requestIdProblem,
  stockNameBytesMax,
  stockNameSizeProblem,
  tradeBatchMax,
  uncommittedOrdersMax,
} from "./protocol.ts";

test('request ids: printable ASCII without , " \\ up to requestIdBytesMax', () => {
  assert.is(requestIdProblem("fe1-42"), undefined);
  assert.is(requestIdProblem("x".repeat(requestIdBytesMax)), undefined);
  assert.match(requestIdProblem("x".repeat(requestIdBytesMax + 1)) ?? "", /longer than/);
  assert.match(requestIdProblem("") ?? "", /empty/);
  for (const bad of ["a,b", "a b", "a\nb", 'a"b', "a\\b", "é", "a\x7fb"]) assert.match(requestIdProblem(bad) ?? "", /request_id/, bad);
});

test("request ids: a UUID and a keyed id (`k-` and base64url) pass", () => {
  assert.is(requestIdProblem("3f2c1e9a-7b6d-4c1e-9f3a-2b1c0d9e8f7a"), undefined);
  assert.is(requestIdProblem(`k-${"Az09-_".repeat(5)}xy`), undefined);
});

test("stock names: 1 to stockNameBytesMax bytes, counted in UTF-8", () => {
  assert.is(stockNameSizeProblem("GameStart"), undefined);
  assert.is(stockNameSizeProblem("x".repeat(stockNameBytesMax)), undefined);
  assert.match(stockNameSizeProblem("x".repeat(stockNameBytesMax + 1)) ?? "", /longer than/);
  assert.match(stockNameSizeProblem("é".repeat(stockNameBytesMax / 2 + 1)) ?? "", /longer than/);
  assert.match(stockNameSizeProblem("") ?? "", /empty/);
});

test("quantities: integers from 1 to orderQuantityMax", () => {
  assert.is(orderQuantityProblem(1), undefined);
  assert.is(orderQuantityProblem(orderQuantityMax), undefined);
  for (const bad of [0, -1, 1.5, orderQuantityMax + 1, Number.NaN]) assert.match(orderQuantityProblem(bad) ?? "", /quantity/, String(bad));
});

test("batches: a PlaceBatch fits a TradeBatch, and two TradeBatches fit the uncommitted window", () => {
  assert.ok(placeBatchMax <= tradeBatchMax);
  assert.ok(2 * tradeBatchMax <= uncommittedOrdersMax);
});

test.run();
