// The stock table and its one writer. Lookups read the committed table under the read lock.
// Trades (single or batched) are queued; one serial batcher takes everything queued, plans
// it against the committed table (trade.ts), appends the applied rows to the journal and
// waits for their fdatasync WITHOUT holding the lock, so lookups keep reading meanwhile, then
// takes the write lock only to install the new states. A lookup therefore never sees a state
// that is not durable yet, and one flush serves every trade that queued during the previous
// one (group commit). The batcher also runs the periodic checkpoint, between two commits.

import { setImmediate } from "node:timers";
import type { Invalidation, Stock, TradeReply, TradeRequest } from "../gen/catalog.ts";
import { assert } from "../lib/assert.ts";
import type { Logger } from "../lib/log.ts";
import type { StockTable } from "./catalog_file.ts";
import { InvalidArgumentError, OverloadedError, StockNotFoundError, StorageError, StoreClosedError } from "./errors.ts";
import type { Journal } from "./journal.ts";
import * as limits from "./limits.ts";
import type { AppliedRecord } from "./persistence.ts";
import { checkpoint, loadDurableState, rememberApplied } from "./persistence.ts";
import { RwLock } from "./rwlock.ts";
import type { CommitPlan, StockState } from "./trade.ts";
import { isStockNameSized, planCommit, stockMessage } from "./trade.ts";

export type StoreOptions = {
  readonly dir: string;
  readonly log: Logger;
  /** Tests shrink these to exercise compaction and checkpoints; production uses limits.ts. */
  readonly requestIdsMax?: number;
  readonly checkpointTradesInterval?: number;
};

/** Called after each commit is installed, with one entry per changed stock. */
export type CommitListener = (invalidations: Invalidation[]) => void;

type Job = {
  readonly requests: readonly TradeRequest[];
  readonly resolve: (replies: TradeReply[]) => void;
  readonly reject: (err: Error) => void;
};

export class Store {
  private readonly lock = new RwLock();
  private readonly dir: string;
  private readonly log: Logger;
  private readonly stocks: StockTable;
  private readonly recorded: AppliedRecord;
  private readonly journal: Journal;
  private readonly requestIdsMax: number;
  private readonly checkpointTradesInterval: number;
  private readonly listeners: CommitListener[] = [];
  private queue: Job[] = [];
  private queuedTrades = 0;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private failure: StorageError | undefined;
  private tradesSinceCheckpoint = 0;
  private commitCount = 0;
  private checkpointCount = 0;

  private constructor(options: StoreOptions, stocks: StockTable, recorded: AppliedRecord, journal: Journal) {
    this.dir = options.dir;
    this.log = options.log;
    this.stocks = stocks;
    this.recorded = recorded;
    this.journal = journal;
    this.requestIdsMax = options.requestIdsMax ?? limits.requestIdsMax;
    this.checkpointTradesInterval = options.checkpointTradesInterval ?? limits.checkpointTradesInterval;
    assert(Number.isSafeInteger(this.requestIdsMax) && this.requestIdsMax > 0, "requestIdsMax is a positive integer");
    assert(Number.isSafeInteger(this.checkpointTradesInterval) && this.checkpointTradesInterval > 0,
      "checkpointTradesInterval is a positive integer");
  }

  /** Load DATA_DIR, replay the journal and checkpoint, so the files on disk are compact and whole. */
  static async open(options: StoreOptions): Promise<Store> {
    const state = await loadDurableState(options.dir, options.requestIdsMax ?? limits.requestIdsMax);
    if (state.tornTailBytes > 0) {
      options.log.warn("dropped a torn last journal line (crash during an append)", { bytes: state.tornTailBytes });
    }
    const store = new Store(options, state.stocks, state.recorded, state.journal);
    await store.checkpoint();
    if (store.failure !== undefined) throw store.failure;
    options.log.info("catalog loaded", {
      stocks: state.stocks.size,
      initial: state.initial,
      replayed: state.replayed,
      request_ids: state.recorded.size,
    });
    return store;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** The committed state of one stock. */
  async lookup(name: string): Promise<Stock> {
    if (!isStockNameSized(name)) throw new InvalidArgumentError(`name must be 1..${limits.stockNameBytesMax} bytes`);
    const state = await this.lock.withRead(() => this.stocks.get(name));
    if (state === undefined) throw new StockNotFoundError(name);
    return stockMessage(name, state);
  }

  /** Apply one trade; resolves once it is durable (or with the recorded reply of a retry). */
  async trade(request: TradeRequest): Promise<TradeReply> {
    const [reply] = await this.enqueue([request]);
    assert(reply !== undefined, "one reply per request");
    return reply;
  }

  /** Apply trades in order within one commit; replies[i] answers requests[i]. */
  tradeBatch(requests: readonly TradeRequest[]): Promise<TradeReply[]> {
    if (requests.length > limits.tradeBatchMax) {
      return Promise.reject(new InvalidArgumentError(`a batch holds at most ${limits.tradeBatchMax} trades`));
    }
    if (requests.length === 0) return Promise.resolve([]);
    return this.enqueue(requests);
  }

  /** Counts for Health; rejects with the StorageError once the store has failed. */
  async health(): Promise<{ stocks: number; tradesApplied: number }> {
    if (this.failure !== undefined) throw this.failure;
    // Each applied trade adds one to one stock's version, so their sum counts every trade
    // ever applied, across restarts.
    return this.lock.withRead(() => {
      let tradesApplied = 0;
      for (const state of this.stocks.values()) tradesApplied += state.version;
      return { stocks: this.stocks.size, tradesApplied };
    });
  }

  /** fdatasync calls of the journal so far; far fewer than trades when group commit works. */
  get journalFlushes(): number {
    return this.journal.flushes;
  }

  /** Commits that appended journal rows. */
  get commits(): number {
    return this.commitCount;
  }

  get checkpoints(): number {
    return this.checkpointCount;
  }

  /** Take no new trades, finish the queued ones, checkpoint, close the journal. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
    if (this.failure === undefined) await this.checkpoint();
    await this.journal.close();
    this.log.info("catalog store closed", { commits: this.commits, flushes: this.journalFlushes });
  }

  private enqueue(requests: readonly TradeRequest[]): Promise<TradeReply[]> {
    if (this.closing !== undefined) return Promise.reject(new StoreClosedError());
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.queuedTrades + requests.length > limits.tradesQueuedMax) {
      return Promise.reject(new OverloadedError(`more than ${limits.tradesQueuedMax} trades are waiting for the disk`));
    }
    const done = new Promise<TradeReply[]>((resolve, reject) => this.queue.push({ requests, resolve, reject }));
    this.queuedTrades += requests.length;
    this.draining ??= this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    // Let every request that arrived in this turn of the event loop join the first commit.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      await this.commit(this.takeJobs());
    }
    this.draining = undefined;
  }

  /** Whole jobs, oldest first, up to tradesPerCommitMax trades (always at least one job). */
  private takeJobs(): Job[] {
    let trades = 0;
    let count = 0;
    for (const job of this.queue) {
      if (count > 0 && trades + job.requests.length > limits.tradesPerCommitMax) break;
      trades += job.requests.length;
      count++;
    }
    const jobs = this.queue.splice(0, count);
    this.queuedTrades -= trades;
    return jobs;
  }

  private async commit(jobs: Job[]): Promise<void> {
    if (this.failure !== undefined) return this.rejectAll(jobs, this.failure);
    const plan = planCommit(this.stocks, this.recorded, jobs.flatMap((job) => job.requests));
    if (plan.applied.length > 0) {
      try {
        await this.journal.append(plan.applied);
      } catch (err) {
        const failure = new StorageError("journal append failed", { cause: err });
        this.fail(failure);
        return this.rejectAll(jobs, failure);
      }
      await this.lock.withWrite(() => this.install(plan));
      this.commitCount++;
    }
    // Invalidations go out before the replies: by the time a trader can see its reply, the
    // push to every frontend is already queued on its stream (read-your-writes, SPEC §6).
    this.publish(plan.changed);
    this.reply(jobs, plan.replies);
    this.tradesSinceCheckpoint += plan.applied.length;
    if (this.tradesSinceCheckpoint >= this.checkpointTradesInterval) await this.checkpoint();
  }

  private install(plan: CommitPlan): void {
    const trades = new Map<string, number>();
    for (const row of plan.applied) trades.set(row.name, (trades.get(row.name) ?? 0) + 1);
    for (const [name, state] of plan.changed) {
      const before = this.stocks.get(name);
      assert(before !== undefined && state.version === before.version + (trades.get(name) ?? 0),
        "a commit adds one version per applied trade");
      this.stocks.set(name, state);
    }
    for (const row of plan.applied) rememberApplied(this.recorded, row, this.requestIdsMax);
  }

  private publish(changed: ReadonlyMap<string, StockState>): void {
    if (changed.size === 0) return;
    const invalidations = [...changed].map(([name, state]) => ({ name, version: state.version }));
    for (const listener of this.listeners) listener(invalidations);
  }

  private reply(jobs: readonly Job[], replies: readonly TradeReply[]): void {
    let next = 0;
    for (const job of jobs) {
      job.resolve(replies.slice(next, next + job.requests.length));
      next += job.requests.length;
    }
    assert(next === replies.length, "every reply goes to its job");
  }

  /**
   * Rewrite catalog.csv and compact the journal. Runs only inside the batcher or at
   * open/close, so no commit changes the table or the record meanwhile and every state in
   * the table is already durable in the journal; that is why it needs no lock.
   */
  private async checkpoint(): Promise<void> {
    try {
      await checkpoint(this.dir, this.stocks, this.recorded, this.journal);
      this.tradesSinceCheckpoint = 0;
      this.checkpointCount++;
      this.log.debug("checkpoint written", { request_ids: this.recorded.size });
    } catch (err) {
      this.fail(new StorageError("checkpoint failed", { cause: err }));
    }
  }

  private fail(err: StorageError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.log.error("storage failed; refusing trades until restart", { error: String(err.cause) });
    const queued = this.queue;
    this.queue = [];
    this.queuedTrades = 0;
    this.rejectAll(queued, err);
  }

  private rejectAll(jobs: readonly Job[], err: Error): void {
    for (const job of jobs) job.reject(err);
  }
}
