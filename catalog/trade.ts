// The trade rules as pure functions: what a stock looks like, which trades are valid, what a
// trade does to a stock, and how the trades of one TradeBatch are planned and numbered. No IO,
// no locks, no clock: group_plan.ts runs them against the committed state (as the earlier calls
// of the same commit leave it), persistence.ts uses the same validators before writing rows and
// after reading them back.

import { assert } from "../lib/assert.ts";
import { orderQuantityMax, orderQuantityProblem, requestIdProblem, stockNameBytesMax, stockNameSizeProblem } from "../lib/protocol.ts";
import type { Stock, TradeReply, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { stockPriceMax, stockQuantityMax, stockVolumeMax } from "./limits.ts";

export type StockState = {
  readonly price: number;
  readonly quantity: number;
  readonly volume: number;
  /** Number of trades ever applied to this stock. */
  readonly version: number;
};

export type TradeSide = "buy" | "sell";

/**
 * One applied trade: its journal row, and what the catalog hands an order leader that lacks
 * it. `number` is the order's transaction number, `epoch` the epoch of the leader that sent it.
 */
export type AppliedTrade = {
  readonly number: number;
  readonly epoch: number;
  readonly requestId: string;
  readonly name: string;
  readonly side: TradeSide;
  readonly quantity: number;
  readonly quantityAfter: number;
  readonly volumeAfter: number;
  readonly versionAfter: number;
};

/** Names go into CSV unquoted, so they are limited to characters that need no quoting. */
export function isValidStockName(name: string): boolean {
  return /^[A-Za-z0-9_.-]+$/.test(name) && name.length <= stockNameBytesMax;
}

function isCount(n: number, max: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= max;
}

/** Why `state` cannot be a stock, or undefined when it can. */
export function stockStateProblem(name: string, state: StockState): string | undefined {
  if (!isValidStockName(name)) return `name "${name}" is not 1..${stockNameBytesMax} of [A-Za-z0-9_.-]`;
  const priceText = String(state.price);
  if (!(state.price > 0 && state.price <= stockPriceMax) || !/^\d+(\.\d+)?$/.test(priceText)) {
    return `price ${priceText} is not a positive decimal up to ${stockPriceMax}`;
  }
  if (!isCount(state.quantity, stockQuantityMax)) return `quantity ${state.quantity} is out of range`;
  if (!isCount(state.volume, stockVolumeMax)) return `volume ${state.volume} is out of range`;
  if (!isCount(state.version, Number.MAX_SAFE_INTEGER)) return `version ${state.version} is out of range`;
  return undefined;
}

/** Why `row` cannot be an applied trade, or undefined when it can. */
export function appliedTradeProblem(row: AppliedTrade): string | undefined {
  if (!isCount(row.number, Number.MAX_SAFE_INTEGER)) return `number ${row.number} is out of range`;
  if (!isCount(row.epoch, Number.MAX_SAFE_INTEGER) || row.epoch === 0) return `epoch ${row.epoch} is out of range`;
  if (requestIdProblem(row.requestId) !== undefined) return `request_id "${row.requestId}" is not valid`;
  if (!isValidStockName(row.name)) return `name "${row.name}" is not valid`;
  if (row.side !== "buy" && row.side !== "sell") return `side "${String(row.side)}" is not buy or sell`;
  if (!isCount(row.quantity, orderQuantityMax) || row.quantity === 0) return `quantity ${row.quantity} is out of range`;
  if (!isCount(row.quantityAfter, stockQuantityMax)) return `quantity_after ${row.quantityAfter} is out of range`;
  if (row.volumeAfter < row.quantity || !isCount(row.volumeAfter, stockVolumeMax)) {
    return `volume_after ${row.volumeAfter} is out of range`;
  }
  if (!isCount(row.versionAfter, Number.MAX_SAFE_INTEGER) || row.versionAfter === 0) {
    return `version_after ${row.versionAfter} is out of range`;
  }
  return undefined;
}

export type TradeOutcome =
  | { readonly ok: true; readonly after: StockState }
  | { readonly ok: false; readonly status: TradeStatus; readonly message: string };

function failure(status: TradeStatus, message: string): TradeOutcome {
  return { ok: false, status, message };
}

/** What one buy or sell of a valid quantity does to a stock. */
export function applyTrade(before: StockState, side: TradeSide, quantity: number): TradeOutcome {
  assert(Number.isSafeInteger(quantity) && quantity > 0 && quantity <= orderQuantityMax, "quantity checked first");
  if (side === "buy" && quantity > before.quantity) {
    return failure(TradeStatus.TRADE_INSUFFICIENT_QUANTITY, "insufficient quantity");
  }
  const quantityAfter = side === "buy" ? before.quantity - quantity : before.quantity + quantity;
  if (quantityAfter > stockQuantityMax) return failure(TradeStatus.TRADE_INVALID, `quantity would pass ${stockQuantityMax}`);
  if (before.volume + quantity > stockVolumeMax) return failure(TradeStatus.TRADE_INVALID, "volume would pass its maximum");
  return { ok: true, after: { ...before, quantity: quantityAfter, volume: before.volume + quantity, version: before.version + 1 } };
}

export function sideOf(side: Side): TradeSide | undefined {
  if (side === Side.SIDE_BUY) return "buy";
  if (side === Side.SIDE_SELL) return "sell";
  return undefined;
}

/** Why a request is refused before looking at any stock, or undefined. */
function requestProblem(request: TradeRequest): string | undefined {
  const problem = requestIdProblem(request.requestId) ?? stockNameSizeProblem(request.name);
  if (problem !== undefined) return problem;
  if (sideOf(request.side) === undefined) return "side must be buy or sell";
  return orderQuantityProblem(request.quantity);
}

export function stockMessage(name: string, state: StockState): Stock {
  return { name, price: state.price, quantity: state.quantity, volume: state.volume, version: state.version };
}

function reply(status: TradeStatus, stock: Stock | undefined, message: string, number = 0): TradeReply {
  return { status, stock, message, number };
}

export type CommitPlan = {
  /** replies[i] answers requests[i]. */
  readonly replies: TradeReply[];
  /** The trades this commit applies, in order, numbered consecutively: its journal rows. */
  readonly applied: AppliedTrade[];
  /** The new state of every stock the commit changes. */
  readonly changed: Map<string, StockState>;
};

/** Where a commit's numbering starts, and the epoch of the leader whose batch it is. */
export type Numbering = { readonly firstNumber: number; readonly epoch: number };

/**
 * Turn queued requests into one commit against the committed state. Requests are taken in
 * order, each seeing the ones before it; each applied trade takes the next number. A request
 * id the catalog already numbered (`sequenced`, or earlier in this commit) is refused as
 * TRADE_INVALID: the order leader never sends one (its log holds every numbered trade), so
 * it can only be a bug, and applying it would count a trade twice.
 */
export function planCommit(
  stocks: ReadonlyMap<string, StockState>,
  sequenced: ReadonlyMap<string, number>,
  requests: readonly TradeRequest[],
  numbering: Numbering,
): CommitPlan {
  const plan: CommitPlan = { replies: [], applied: [], changed: new Map() };
  const fresh = new Map<string, number>();
  for (const request of requests) {
    const number = numbering.firstNumber + plan.applied.length;
    plan.replies.push(planOne(stocks, sequenced, fresh, plan, request, { firstNumber: number, epoch: numbering.epoch }));
  }
  return plan;
}

function planOne(
  stocks: ReadonlyMap<string, StockState>,
  sequenced: ReadonlyMap<string, number>,
  fresh: Map<string, number>,
  plan: CommitPlan,
  request: TradeRequest,
  next: Numbering,
): TradeReply {
  const problem = requestProblem(request);
  if (problem !== undefined) return reply(TradeStatus.TRADE_INVALID, undefined, problem);
  const previous = fresh.get(request.requestId) ?? sequenced.get(request.requestId);
  if (previous !== undefined) {
    return reply(TradeStatus.TRADE_INVALID, undefined, `request_id already numbered as order ${previous}`);
  }
  const before = plan.changed.get(request.name) ?? stocks.get(request.name);
  if (before === undefined) return reply(TradeStatus.TRADE_UNKNOWN_STOCK, undefined, "unknown stock");
  const side = sideOf(request.side);
  assert(side !== undefined, "side checked by requestProblem");
  const outcome = applyTrade(before, side, request.quantity);
  if (!outcome.ok) return reply(outcome.status, stockMessage(request.name, before), outcome.message);
  const row: AppliedTrade = {
    number: next.firstNumber,
    epoch: next.epoch,
    requestId: request.requestId,
    name: request.name,
    side,
    quantity: request.quantity,
    quantityAfter: outcome.after.quantity,
    volumeAfter: outcome.after.volume,
    versionAfter: outcome.after.version,
  };
  plan.changed.set(request.name, outcome.after);
  plan.applied.push(row);
  fresh.set(row.requestId, row.number);
  return reply(TradeStatus.TRADE_OK, stockMessage(request.name, outcome.after), "", row.number);
}
