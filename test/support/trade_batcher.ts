// Plays the order leader's side of TradeBatch for the catalog's tests and its benchmark: trades
// queue, one batch (up to tradeBatchMax) is in flight at a time with after_number = commit_number
// = the last number heard, and every applied trade is recorded by number. A failed call stops it:
// that batch and everything queued are rejected, and the batch is kept in `inFlight` (it may or
// may not have been applied). A leader whose log is never behind gets no `missing` trades; one
// would be a bug in the catalog, so it is an assertion failure.

import type { TradeBatchReply, TradeReply, TradeRequest } from "../../gen/catalog.ts";
import { TradeStatus } from "../../gen/catalog.ts";
import { assert } from "../../lib/assert.ts";
import { tradeBatchMax } from "../../lib/protocol.ts";

export type BatchHeader = {
  readonly epoch: number;
  readonly leaderId: number;
  readonly afterNumber: number;
  readonly commitNumber: number;
};
export type SendBatch = (header: BatchHeader, trades: TradeRequest[]) => Promise<TradeBatchReply>;
type Queued = { readonly request: TradeRequest; readonly resolve: (reply: TradeReply) => void; readonly reject: (err: unknown) => void };

export class TradeBatcher {
  private readonly send: SendBatch;
  private readonly epoch: number;
  private readonly leaderId: number;
  private queue: Queued[] = [];
  private sending = false;
  /** The last number the catalog gave out, as its replies said. */
  last = -1;
  /** Batches answered so far. */
  batches = 0;
  /** Applied trades by number, as the catalog answered them. */
  readonly numbered = new Map<number, TradeRequest>();
  /** The batch whose call failed: it may or may not have been applied. */
  inFlight: TradeRequest[] = [];
  failed = false;

  constructor(send: SendBatch, epoch: number, leaderId: number) {
    this.send = send;
    this.epoch = epoch;
    this.leaderId = leaderId;
  }

  submit(request: TradeRequest): Promise<TradeReply> {
    if (this.failed) return Promise.reject(new Error("the leader stopped"));
    const done = new Promise<TradeReply>((resolve, reject) => this.queue.push({ request, resolve, reject }));
    if (!this.sending) void this.loop();
    return done;
  }

  private async loop(): Promise<void> {
    this.sending = true;
    while (this.queue.length > 0) {
      const calls = this.queue.splice(0, tradeBatchMax);
      this.inFlight = calls.map((c) => c.request);
      const header = { epoch: this.epoch, leaderId: this.leaderId, afterNumber: this.last, commitNumber: this.last };
      let reply: TradeBatchReply;
      try {
        reply = await this.send(header, this.inFlight);
      } catch (err) {
        this.failed = true;
        for (const c of [...calls, ...this.queue.splice(0)]) c.reject(err);
        break;
      }
      assert(reply.missing.length === 0, "this leader's log is never behind the catalog");
      for (const [i, c] of calls.entries()) {
        const result = reply.results[i];
        assert(result !== undefined, "one result per trade");
        if (result.status === TradeStatus.TRADE_OK) this.numbered.set(result.number, c.request);
        c.resolve(result);
      }
      this.last = reply.lastNumber;
      this.batches++;
      this.inFlight = [];
    }
    this.sending = false;
  }
}
