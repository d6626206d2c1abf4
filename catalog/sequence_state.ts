// The catalog's committed numbering of trades in memory: its last number, the newest leader
// epoch seen, and the most recent applied trades by number with a request id → number index,
// both bounded by the retention limit (the oldest are dropped). It is the SequenceView that
// sequence.ts decides against. No IO: persistence.ts fills it at start, store.ts after each
// durable commit.

import { assert } from "../lib/assert.ts";
import type { SequenceView } from "./sequence.ts";
import type { AppliedTrade } from "./trade.ts";

export class SequenceState implements SequenceView {
  private readonly retainedMax: number;
  /** By number, oldest first (Map keeps insertion order and numbers only grow). */
  private readonly retained = new Map<number, AppliedTrade>();
  private readonly numbers = new Map<string, number>();
  private last: number;
  private newestEpoch: number;

  constructor(retainedMax: number, lastNumber: number, epoch: number) {
    assert(Number.isSafeInteger(retainedMax) && retainedMax > 0, "retainedTradesMax is a positive integer");
    assert(Number.isSafeInteger(lastNumber) && lastNumber >= -1, "lastNumber is -1 or more");
    assert(Number.isSafeInteger(epoch) && epoch >= 0, "epoch is 0 or more");
    this.retainedMax = retainedMax;
    this.last = lastNumber;
    this.newestEpoch = epoch;
  }

  get lastNumber(): number {
    return this.last;
  }

  get epoch(): number {
    return this.newestEpoch;
  }

  /** How many applied trades are kept (at most the retention limit). */
  get size(): number {
    return this.retained.size;
  }

  trade(number: number): AppliedTrade | undefined {
    return this.retained.get(number);
  }

  /** Request id → number of the kept trades: planCommit refuses these ids. */
  get sequenced(): ReadonlyMap<string, number> {
    return this.numbers;
  }

  /** The kept trades, oldest first: what journal compaction keeps. */
  trades(): IterableIterator<AppliedTrade> {
    return this.retained.values();
  }

  /** Record the next applied trade (durable already), forgetting the oldest past the limit. */
  record(row: AppliedTrade): void {
    assert(row.number === this.last + 1, "trades are recorded in number order without gaps");
    assert(row.epoch <= this.newestEpoch, "a trade's epoch was seen (and made durable) first");
    this.retained.set(row.number, row);
    this.numbers.set(row.requestId, row.number);
    this.last = row.number;
    if (this.retained.size > this.retainedMax) this.forgetOldest();
  }

  /** A newer leader epoch, already durable. */
  raiseEpoch(epoch: number): void {
    assert(Number.isSafeInteger(epoch) && epoch > this.newestEpoch, "the epoch only rises");
    this.newestEpoch = epoch;
  }

  private forgetOldest(): void {
    const oldest = this.retained.values().next();
    assert(oldest.done !== true, "a non-empty map has a first entry");
    this.retained.delete(oldest.value.number);
    // A bug could have numbered one id twice; the index then points at the newer number.
    if (this.numbers.get(oldest.value.requestId) === oldest.value.number) this.numbers.delete(oldest.value.requestId);
  }
}
