// The leader's Place pipeline, batched (group commit across the network). Concurrent Place
// calls queue; one batch at a time takes everything queued (up to placeBatchMax):
//   1. request ids already in the log answer with their number; repeats inside the batch share
//      one trade;
//   2. ONE catalog TradeBatch for the rest (idempotent by request id at the catalog);
//   3. under the log lock: successes get the next consecutive numbers (a failed trade consumes
//      none), then ONE Append per live follower and the local durable append run in parallel;
//   4. answer once all are done, and only if this replica still leads the same epoch.
// One batch in flight (placeBatchesInFlightMax) keeps the pipeline simple; batching already
// makes each order's share of the catalog call, the Appends and the fsyncs small. Whatever
// fails after the catalog applied a trade answers UNAVAILABLE: the frontend retries with the
// same request id and gets the catalog's recorded result, so every trade is numbered once.

import { setImmediate } from "node:timers";
import { assert } from "../lib/assert.ts";
import type { Logger } from "../lib/log.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import type { TradeReply, TradeRequest } from "../gen/catalog.ts";
import { OrderSide, PlaceStatus } from "../gen/order.ts";
import type { OrderRecord, PlaceReply, PlaceRequest } from "../gen/order.ts";
import { OrderError } from "./errors.ts";
import type { Followers } from "./followers.ts";
import { catalogTimeoutMs, placeBatchMax, placeBatchesInFlightMax, placeQueueMax, quantityMax } from "./limits.ts";
import type { Mutex } from "./mutex.ts";
import { nameProblem, requestIdProblem } from "./order_log.ts";
import type { OrderLog } from "./order_log.ts";
import type { CatalogPort } from "./ports.ts";
import { errorText } from "./ports.ts";

type Pending = {
  readonly request: PlaceRequest;
  readonly resolve: (reply: PlaceReply) => void;
  readonly reject: (err: OrderError) => void;
};

export type LeaderDeps = {
  readonly id: number;
  readonly epoch: number;
  readonly log: OrderLog;
  /** The log lock shared with the Append/recovery paths of this replica. */
  readonly lock: Mutex;
  readonly catalog: CatalogPort;
  readonly followers: Followers;
  readonly logger: Logger;
  /** True while this replica still leads `epoch`. */
  readonly isCurrent: () => boolean;
  /** The local durable append (a disk failure there is fatal to the replica). */
  readonly appendLocal: (records: readonly OrderRecord[]) => Promise<void>;
};

/** Why a Place request is malformed, or undefined. Checked before anything is queued. */
export function placeProblem(r: PlaceRequest): string | undefined {
  if (r.side !== OrderSide.ORDER_SIDE_BUY && r.side !== OrderSide.ORDER_SIDE_SELL) return "side must be buy or sell";
  if (!Number.isSafeInteger(r.quantity) || r.quantity < 1 || r.quantity > quantityMax) {
    return `quantity must be an integer from 1 to ${quantityMax}`;
  }
  return nameProblem(r.name) ?? requestIdProblem(r.requestId);
}

function reply(status: PlaceStatus, number: number, message: string): PlaceReply {
  return { status, number, message };
}

const failedTrade: Partial<Record<TradeStatus, PlaceStatus>> = {
  [TradeStatus.TRADE_INSUFFICIENT_QUANTITY]: PlaceStatus.PLACE_INSUFFICIENT_QUANTITY,
  [TradeStatus.TRADE_UNKNOWN_STOCK]: PlaceStatus.PLACE_UNKNOWN_STOCK,
  [TradeStatus.TRADE_INVALID]: PlaceStatus.PLACE_INVALID,
};

export class Leader {
  private readonly deps: LeaderDeps;
  private queue: Pending[] = [];
  /** Batches between taking their calls and answering them (at most placeBatchesInFlightMax). */
  private inFlight = 0;
  private stopped = false;
  /** Batches run and orders numbered by this leadership, for the log and the benchmark. */
  batches = 0;
  numbered = 0;
  /** Wall time spent in catalog calls and in replicate-and-persist, summed over batches. */
  private catalogMs = 0;
  private replicateMs = 0;

  constructor(deps: LeaderDeps) {
    this.deps = deps;
  }

  place(request: PlaceRequest): Promise<PlaceReply> {
    const problem = placeProblem(request);
    if (problem) return Promise.resolve(reply(PlaceStatus.PLACE_INVALID, 0, problem));
    if (this.stopped) return Promise.reject(new OrderError("NOT_LEADER", "not leader"));
    if (this.queue.length >= placeQueueMax) return Promise.reject(new OrderError("OVERLOADED", "too many orders waiting; retry later"));
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      // Start on the next turn so calls that arrived together share a batch.
      if (this.queue.length === 1) setImmediate(() => this.dispatch());
    });
  }

  /** Followers that receive every batch synchronously, for Health. */
  liveFollowers(): number[] {
    return this.deps.followers.liveIds();
  }

  /** The leadership ended: queued calls fail now, the batch in flight fails when it ends. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.deps.followers.stop();
    for (const p of this.queue.splice(0)) p.reject(new OrderError("NOT_LEADER", "not leader (leadership ended)"));
    const per = (ms: number): string => (this.batches === 0 ? "0" : (ms / this.batches).toFixed(2));
    this.deps.logger.info("leadership ended", {
      epoch: this.deps.epoch, catalog_ms_per_batch: per(this.catalogMs), replicate_ms_per_batch: per(this.replicateMs),
      batches: this.batches, numbered: this.numbered,
    });
  }

  /**
   * Start batches while calls wait and fewer than placeBatchesInFlightMax are in flight. With
   * more than one, a batch's catalog call overlaps the previous one's replication; numbering
   * stays strictly ordered because numbers are assigned in commit, under the log lock.
   */
  private dispatch(): void {
    while (this.queue.length > 0 && !this.stopped && this.inFlight < placeBatchesInFlightMax) {
      const batch = this.queue.splice(0, placeBatchMax);
      this.inFlight++;
      void this.runBatch(batch).finally(() => {
        this.inFlight--;
        this.dispatch();
      });
    }
  }

  private async runBatch(items: Pending[]): Promise<void> {
    this.batches++;
    const groups = new Map<string, Pending[]>();
    for (const item of items) {
      const known = this.deps.log.numberOf(item.request.requestId);
      if (known !== undefined) this.answerKnown([item], known);
      else if (groups.has(item.request.requestId)) groups.get(item.request.requestId)?.push(item);
      else groups.set(item.request.requestId, [item]);
    }
    if (groups.size === 0) return;
    const batch = [...groups.values()];
    const trades = batch.map((g) => toTrade((g[0] as Pending).request));
    let results: TradeReply[];
    const started = performance.now();
    try {
      results = await this.deps.catalog.tradeBatch(trades, catalogTimeoutMs);
    } catch (err) {
      return failAll(batch, new OrderError("UNAVAILABLE", `catalog unavailable: ${errorText(err)}`));
    } finally {
      this.catalogMs += performance.now() - started;
    }
    if (results.length !== trades.length) {
      this.deps.logger.error("catalog answered a batch with the wrong number of results", { trades: trades.length, results: results.length });
      return failAll(batch, new OrderError("UNAVAILABLE", "catalog answered a malformed batch"));
    }
    await this.deps.lock.run(() => this.commit(batch, results));
  }

  /** Number the applied trades, replicate and persist them, answer. Runs under the log lock. */
  private async commit(batch: Pending[][], results: TradeReply[]): Promise<void> {
    if (!this.deps.isCurrent()) return failAll(batch, new OrderError("UNAVAILABLE", "leadership ended during the batch; retry"));
    const { log } = this.deps;
    const records: OrderRecord[] = [];
    const applied: Pending[][] = [];
    for (const [i, group] of batch.entries()) {
      const result = results[i] as TradeReply;
      const request = (group[0] as Pending).request;
      const known = log.numberOf(request.requestId);
      if (known !== undefined) {
        // A batch that committed after this one started numbered the same request id (a retry
        // racing its original, possible with placeBatchesInFlightMax > 1): same order, same number.
        this.answerKnown(group, known);
        continue;
      }
      if (result.status === TradeStatus.TRADE_OK) {
        const { requestId, name, side, quantity } = request;
        records.push({ number: log.lastNumber + 1 + records.length, name, side, quantity, requestId });
        applied.push(group);
        continue;
      }
      const status = failedTrade[result.status];
      if (status === undefined) failAll([group], new OrderError("UNAVAILABLE", `catalog answered status ${result.status}`));
      else for (const p of group) p.resolve(reply(status, 0, result.message));
    }
    if (records.length === 0) return;
    const links = this.deps.followers.liveForBatch();
    const started = performance.now();
    await Promise.all([this.deps.appendLocal(records), ...links.map((l) => this.deps.followers.sendBatch(l, records))]);
    this.replicateMs += performance.now() - started;
    if (!this.deps.isCurrent()) {
      return failAll(applied, new OrderError("UNAVAILABLE", "leadership ended before the orders were replicated; retry"));
    }
    this.numbered += records.length;
    for (const [i, group] of applied.entries()) this.answerKnown(group, (records[i] as OrderRecord).number);
  }

  /** Answer calls whose request id holds `number`; a reused id with another order is refused. */
  private answerKnown(group: Pending[], number: number): void {
    const held = this.deps.log.at(number);
    assert(held !== undefined, "a known number is in the log");
    for (const p of group) {
      const r = p.request;
      const same = held.name === r.name && held.side === r.side && held.quantity === r.quantity;
      p.resolve(same ? reply(PlaceStatus.PLACE_OK, number, "") : reply(PlaceStatus.PLACE_INVALID, 0, `request_id already used by order ${number} for a different order`));
    }
  }
}

function toTrade(r: PlaceRequest): TradeRequest {
  return { requestId: r.requestId, name: r.name, quantity: r.quantity, side: r.side === OrderSide.ORDER_SIDE_BUY ? Side.SIDE_BUY : Side.SIDE_SELL };
}

function failAll(groups: Pending[][], err: OrderError): void {
  for (const group of groups) for (const p of group) p.reject(err);
}
