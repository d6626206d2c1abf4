// One commit of queued TradeBatch calls, as a pure plan: each call is decided (sequence.ts) and
// its trades planned (trade.ts) in queue order, against the committed state as the earlier calls
// of the same commit leave it (their numbers, their epoch, their stocks, their request ids). So
// the calls of one commit behave exactly as they would in separate commits: two calls with the
// same after_number get, the second, the first one's trades as `missing`. No IO and no clock:
// store.ts writes the plan (epoch first, then the journal rows) and only then installs it and
// answers the calls.

import type { SequencedTrade, TradeBatchReply, TradeRequest } from "../gen/catalog.ts";
import { Side } from "../gen/catalog.ts";
import { assert } from "../lib/assert.ts";
import { ForgottenTradesError, InvalidArgumentError, SequenceAheadError, StaleEpochError, UncommittedWindowError } from "./errors.ts";
import { LayeredMap } from "./layered_map.ts";
import type { SequenceDecision, SequenceView } from "./sequence.ts";
import { decideBatch } from "./sequence.ts";
import type { AppliedTrade, StockState } from "./trade.ts";
import { planCommit } from "./trade.ts";

/** A TradeBatch's header; the leader id is only logged. */
export type TradeBatchHeader = {
  readonly epoch: number;
  readonly leaderId: number;
  readonly afterNumber: number;
  readonly commitNumber: number;
};

export type BatchCall = { readonly header: TradeBatchHeader; readonly requests: readonly TradeRequest[] };

/** The committed numbering a commit is planned against (SequenceState in the store). */
export type CommittedSequence = SequenceView & { readonly sequenced: ReadonlyMap<string, number> };

export type CallOutcome =
  | { readonly ok: true; readonly reply: TradeBatchReply }
  | { readonly ok: false; readonly error: Error };

/** A leader whose call raised the epoch, for the log. */
export type EpochRaise = { readonly epoch: number; readonly leaderId: number };

export type GroupPlan = {
  /** outcomes[i] answers calls[i]. */
  readonly outcomes: CallOutcome[];
  /** Every call's applied trades, numbered consecutively after the committed last number. */
  readonly applied: AppliedTrade[];
  /** The new state of every stock the commit changes, in the order first changed. */
  readonly changed: ReadonlyMap<string, StockState>;
  /** The newest epoch after the commit; above the committed one when a call raised it. */
  readonly epoch: number;
  readonly raises: EpochRaise[];
};

/** The committed sequence plus the trades and epoch planned so far in this commit. */
class PendingSequence implements SequenceView {
  private readonly committed: SequenceView;
  readonly applied: AppliedTrade[] = [];
  readonly raises: EpochRaise[] = [];
  epoch: number;

  constructor(committed: SequenceView) {
    this.committed = committed;
    this.epoch = committed.epoch;
  }

  get lastNumber(): number {
    return this.committed.lastNumber + this.applied.length;
  }

  trade(number: number): AppliedTrade | undefined {
    const index = number - this.committed.lastNumber - 1;
    return index >= 0 ? this.applied[index] : this.committed.trade(number);
  }

  raise(header: TradeBatchHeader): void {
    assert(header.epoch > this.epoch, "decideBatch raises only to a newer epoch");
    this.epoch = header.epoch;
    this.raises.push({ epoch: header.epoch, leaderId: header.leaderId });
  }
}

export function planGroup(committed: CommittedSequence, stocks: ReadonlyMap<string, StockState>, calls: readonly BatchCall[]): GroupPlan {
  const pending = new PendingSequence(committed);
  const stockLayer = new LayeredMap(stocks);
  const idLayer = new LayeredMap(committed.sequenced);
  const outcomes = calls.map((call) => planCall(pending, stockLayer, idLayer, call));
  return { outcomes, applied: pending.applied, changed: stockLayer.changes, epoch: pending.epoch, raises: pending.raises };
}

function planCall(
  pending: PendingSequence,
  stockLayer: LayeredMap<string, StockState>,
  idLayer: LayeredMap<string, number>,
  call: BatchCall,
): CallOutcome {
  const { header, requests } = call;
  const decision = decideBatch(pending, { ...header, tradeCount: requests.length });
  if (decision.kind !== "apply" && decision.kind !== "missing") return { ok: false, error: refusal(decision) };
  if (decision.raiseEpoch) pending.raise(header);
  if (decision.kind === "missing") {
    return { ok: true, reply: { results: [], missing: decision.trades.map(sequencedTrade), lastNumber: pending.lastNumber, durableMs: 0 } };
  }
  const plan = planCommit(stockLayer, idLayer, requests, { firstNumber: pending.lastNumber + 1, epoch: header.epoch });
  for (const [name, state] of plan.changed) stockLayer.set(name, state);
  for (const row of plan.applied) {
    idLayer.set(row.requestId, row.number);
    pending.applied.push(row);
  }
  assert(plan.applied.every((row, i) => row.number === pending.lastNumber - plan.applied.length + 1 + i), "numbers follow on");
  return { ok: true, reply: { results: plan.replies, missing: [], lastNumber: pending.lastNumber, durableMs: 0 } };
}

/** The typed error a refusing decision becomes (server.ts maps each to its gRPC status). */
function refusal(decision: Exclude<SequenceDecision, { kind: "apply" } | { kind: "missing" }>): Error {
  switch (decision.kind) {
    case "invalid":
      return new InvalidArgumentError(decision.message);
    case "stale":
      return new StaleEpochError(decision.message);
    case "ahead":
      return new SequenceAheadError(decision.message);
    case "forgotten":
      return new ForgottenTradesError(decision.message);
    case "window":
      return new UncommittedWindowError(decision.message);
  }
}

export function sequencedTrade(row: AppliedTrade): SequencedTrade {
  return {
    number: row.number,
    epoch: row.epoch,
    requestId: row.requestId,
    name: row.name,
    side: row.side === "buy" ? Side.SIDE_BUY : Side.SIDE_SELL,
    quantity: row.quantity,
  };
}
