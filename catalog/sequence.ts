// The catalog as the order log's sequencer, as a pure decision: given what the catalog has
// numbered so far and a TradeBatch's header (the leader's epoch, the last number in its log,
// its commit point), either apply the batch (numbering its trades from the catalog's last
// number + 1), or hand the leader the numbered trades its log lacks, or refuse. No IO: store.ts
// carries the decision out, the simulator (sim/) runs the same function.
//
// Why this is safe (protos/PROTOCOL.md): trades are numbered only here, only after the
// catalog's last number and only for a leader whose log already holds everything numbered
// before, so every order at number n in any replica's log is the catalog's trade n. Logs can
// be shorter than the catalog's sequence, never different from it.

import { missingTradesPageMax, uncommittedOrdersMax } from "../lib/protocol.ts";
import type { AppliedTrade } from "./trade.ts";

/** What the decision reads of the catalog's sequence. */
export type SequenceView = {
  /** The number of the last trade applied, -1 when none. */
  readonly lastNumber: number;
  /** The newest leader epoch seen (0: none). */
  readonly epoch: number;
  /** A retained applied trade by number (the most recent ones are kept; see limits.ts). */
  trade(number: number): AppliedTrade | undefined;
};

export type BatchHeader = {
  readonly epoch: number;
  readonly afterNumber: number;
  readonly commitNumber: number;
  readonly tradeCount: number;
};

export type SequenceDecision =
  /** Apply and number from lastNumber + 1; `raiseEpoch`: record the new epoch durably first. */
  | { readonly kind: "apply"; readonly raiseEpoch: boolean }
  /** The leader's log ends before the catalog's: these trades first (nothing is applied). */
  | { readonly kind: "missing"; readonly trades: readonly AppliedTrade[]; readonly raiseEpoch: boolean }
  /** INVALID_ARGUMENT: a malformed header. */
  | { readonly kind: "invalid"; readonly message: string }
  /** FAILED_PRECONDITION: a newer leader exists. */
  | { readonly kind: "stale"; readonly message: string }
  /** DATA_LOSS: the leader holds numbers the catalog never gave (the catalog lost its data). */
  | { readonly kind: "ahead"; readonly message: string }
  /** OUT_OF_RANGE: the leader lacks trades the catalog no longer keeps. */
  | { readonly kind: "forgotten"; readonly message: string }
  /** RESOURCE_EXHAUSTED: too many numbered trades are not yet committed in the log. */
  | { readonly kind: "window"; readonly message: string };

export function decideBatch(seq: SequenceView, h: BatchHeader): SequenceDecision {
  if (!Number.isSafeInteger(h.epoch) || h.epoch < 1) return { kind: "invalid", message: "epoch must be 1 or more" };
  if (!Number.isSafeInteger(h.afterNumber) || h.afterNumber < -1) return { kind: "invalid", message: "after_number must be -1 or more" };
  if (!Number.isSafeInteger(h.commitNumber) || h.commitNumber < -1 || h.commitNumber > h.afterNumber) {
    return { kind: "invalid", message: "commit_number must be from -1 to after_number" };
  }
  if (h.epoch < seq.epoch) return { kind: "stale", message: `epoch ${h.epoch} is older than epoch ${seq.epoch} the catalog has seen` };
  const raiseEpoch = h.epoch > seq.epoch;
  if (h.afterNumber > seq.lastNumber) {
    return { kind: "ahead", message: `the order log holds number ${h.afterNumber} but the catalog numbered only up to ${seq.lastNumber}` };
  }
  if (h.afterNumber < seq.lastNumber) {
    const to = Math.min(seq.lastNumber, h.afterNumber + missingTradesPageMax);
    const trades: AppliedTrade[] = [];
    for (let n = h.afterNumber + 1; n <= to; n++) {
      const t = seq.trade(n);
      if (t === undefined) return { kind: "forgotten", message: `trade ${n} is no longer kept by the catalog` };
      trades.push(t);
    }
    return { kind: "missing", trades, raiseEpoch };
  }
  if (seq.lastNumber - h.commitNumber + h.tradeCount > uncommittedOrdersMax) {
    return { kind: "window", message: `more than ${uncommittedOrdersMax} trades would be numbered but not committed` };
  }
  return { kind: "apply", raiseEpoch };
}
