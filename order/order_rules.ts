// What a well-formed order is, on every path into a replica: a Place request from the
// frontend, orders in an Append from the leader, trades adopted from the catalog, rows read
// back from the log file. Pure functions; the log (order_log.ts) and the protocol core
// (core.ts) call them before anything is written.

import { Side } from "../gen/catalog.ts";
import type { SequencedTrade } from "../gen/catalog.ts";
import { OrderSide } from "../gen/order.ts";
import type { OrderRecord, PlaceRequest } from "../gen/order.ts";
import { orderQuantityProblem, requestIdProblem, stockNameSizeProblem } from "../lib/protocol.ts";

// A field is written unquoted, so it may not hold the separator, a quote or a line break. The
// request id and the sizes follow the rules every service shares (lib/protocol.ts).
// deno-lint-ignore no-control-regex -- control characters are exactly what a name may not hold
const namePattern = /^[^\x00-\x1f\x7f,"]+$/;

/** Why a stock name cannot be stored, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  const problem = stockNameSizeProblem(name);
  if (problem !== undefined) return problem;
  if (!namePattern.test(name)) return "name contains a comma, a quote or a control character";
  return undefined;
}

/** Why a Place request is malformed, or undefined. Checked before anything is queued. */
export function placeProblem(r: PlaceRequest): string | undefined {
  if (r.side !== OrderSide.ORDER_SIDE_BUY && r.side !== OrderSide.ORDER_SIDE_SELL) return "side must be buy or sell";
  return orderQuantityProblem(r.quantity) ?? nameProblem(r.name) ?? requestIdProblem(r.requestId);
}

/** Why an order is not well-formed, or undefined when it is. */
export function orderProblem(o: OrderRecord): string | undefined {
  if (!Number.isSafeInteger(o.number) || o.number < 0) return "number is not a non-negative integer";
  if (!Number.isSafeInteger(o.epoch) || o.epoch < 1) return "epoch is not a positive integer";
  if (o.side !== OrderSide.ORDER_SIDE_BUY && o.side !== OrderSide.ORDER_SIDE_SELL) return "side is not buy or sell";
  return orderQuantityProblem(o.quantity) ?? nameProblem(o.name) ?? requestIdProblem(o.requestId);
}

export function sameOrder(a: OrderRecord, b: OrderRecord): boolean {
  return a.number === b.number && a.epoch === b.epoch && a.name === b.name && a.side === b.side &&
    a.quantity === b.quantity && a.requestId === b.requestId;
}

/** A trade as the catalog numbered it (a TradeBatch reply's `missing`), as a row of the order log. */
export function orderOfSequenced(t: SequencedTrade): OrderRecord {
  return {
    number: t.number,
    epoch: t.epoch,
    requestId: t.requestId,
    name: t.name,
    quantity: t.quantity,
    side: t.side === Side.SIDE_BUY ? OrderSide.ORDER_SIDE_BUY : OrderSide.ORDER_SIDE_SELL,
  };
}
