// The stock table, the trade numbering, and their one writer. Lookups read the committed table.
// TradeBatch calls are queued; one serial batcher takes everything queued and plans it as one
// commit (group_plan.ts): each call is decided against the numbering as every earlier call left
// it (sequence.ts) and its trades planned in turn (trade.ts). It then makes the plan durable
// while the committed table stays as it was, so lookups keep reading meanwhile: a raised leader
// epoch first (catalog-epoch.txt), then one journal append + fdatasync for all calls (group
// commit). Only then does it install the new states, under the write lock, and answer. The table
// is guarded by a reader-writer lock (rwlock.ts): lookups hold the read lock, the install the
// write lock. Both holders are synchronous, so the lock is granted at once and costs no turn of
// the event loop, and a lookup sees the table before a commit or after it, never half of it, and
// never a state that is not durable yet; no caller hears of a number or an epoch that a crash
// could take back. The batcher also runs the periodic checkpoint, between two commits.

import type { Invalidation, Stock, TradeBatchReply, TradeRequest } from "../gen/catalog.ts";
import { assert } from "../lib/assert.ts";
import type { Logger } from "../lib/log.ts";
import type { StockTable } from "./catalog_file.ts";
import type { EpochFile } from "./epoch_file.ts";
import {
  ForgottenTradesError,
  InvalidArgumentError,
  OverloadedError,
  SequenceAheadError,
  StaleEpochError,
  StockNotFoundError,
  StorageError,
  StoreClosedError,
} from "./errors.ts";
import type { GroupPlan, TradeBatchHeader } from "./group_plan.ts";
import { planGroup } from "./group_plan.ts";
import type { Journal } from "./journal.ts";
import * as limits from "./limits.ts";
import { RwLock } from "./rwlock.ts";
import { stockNameSizeProblem, tradeBatchMax } from "../lib/protocol.ts";
import type { DurableState } from "./persistence.ts";
import { checkpoint, loadDurableState } from "./persistence.ts";
import type { SequenceState } from "./sequence_state.ts";
import type { StockState } from "./trade.ts";
import { stockMessage } from "./trade.ts";

export type { TradeBatchHeader };

export type StoreOptions = {
  readonly dir: string;
  readonly log: Logger;
  /** Tests shrink these to exercise retention, compaction and checkpoints; production uses limits.ts. */
  readonly retainedTradesMax?: number;
  readonly checkpointTradesInterval?: number;
};

/** Called after each commit is installed, with one entry per changed stock. */
export type CommitListener = (invalidations: Invalidation[]) => void;

export type StoreHealth = { stocks: number; tradesApplied: number; lastNumber: number; epoch: number };

type Job = {
  readonly header: TradeBatchHeader;
  readonly requests: readonly TradeRequest[];
  readonly resolve: (reply: TradeBatchReply) => void;
  readonly reject: (err: Error) => void;
};

/** Room a job takes in the queue: its trades, and one for an empty batch (it is work too). */
function queueRoom(requests: readonly TradeRequest[]): number {
  return Math.max(1, requests.length);
}

export class Store {
  private readonly dir: string;
  private readonly log: Logger;
  private readonly stocks: StockTable;
  private readonly sequence: SequenceState;
  private readonly journal: Journal;
  private readonly epochFile: EpochFile;
  private readonly checkpointTradesInterval: number;
  private readonly listeners: CommitListener[] = [];
  private readonly lock = new RwLock();
  private queue: Job[] = [];
  private queuedRoom = 0;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private failure: StorageError | undefined;
  private tradesSinceCheckpoint = 0;
  private commitCount = 0;
  private checkpointCount = 0;

  private constructor(options: StoreOptions, state: DurableState) {
    this.dir = options.dir;
    this.log = options.log;
    this.stocks = state.stocks;
    this.sequence = state.sequence;
    this.journal = state.journal;
    this.epochFile = state.epochFile;
    this.checkpointTradesInterval = options.checkpointTradesInterval ?? limits.checkpointTradesInterval;
    assert(
      Number.isSafeInteger(this.checkpointTradesInterval) && this.checkpointTradesInterval > 0,
      "checkpointTradesInterval is a positive integer",
    );
  }

  /** Load DATA_DIR, replay the journal and checkpoint, so the files on disk are compact and whole. */
  static async open(options: StoreOptions): Promise<Store> {
    const state = await loadDurableState(options.dir, options.retainedTradesMax ?? limits.retainedTradesMax);
    if (state.tornTailBytes > 0) {
      options.log.warn("dropped a torn last journal line (crash during an append)", { bytes: state.tornTailBytes });
    }
    const store = new Store(options, state);
    await store.checkpoint();
    if (store.failure !== undefined) throw store.failure;
    options.log.info("catalog loaded", {
      stocks: state.stocks.size,
      initial: state.initial,
      replayed: state.replayed,
      last_number: state.sequence.lastNumber,
      epoch: state.sequence.epoch,
      retained: state.sequence.size,
    });
    return store;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** The committed state of one stock. */
  async lookup(name: string): Promise<Stock> {
    const problem = stockNameSizeProblem(name);
    if (problem !== undefined) throw new InvalidArgumentError(problem);
    const state = await this.lock.read(() => this.stocks.get(name));
    if (state === undefined) throw new StockNotFoundError(name);
    return stockMessage(name, state);
  }

  /**
   * One TradeBatch from the order leader: decided against the numbering as every earlier call
   * left it, then either applied in order within one commit (results[i] answers requests[i],
   * applied trades numbered from after_number + 1) or answered with the trades the leader's log
   * lacks (`missing`, nothing applied). Resolves once durable; rejects with a typed error when
   * the header is refused (InvalidArgumentError, StaleEpochError, SequenceAheadError,
   * ForgottenTradesError, UncommittedWindowError).
   */
  tradeBatch(header: TradeBatchHeader, requests: readonly TradeRequest[]): Promise<TradeBatchReply> {
    if (requests.length > tradeBatchMax) {
      return Promise.reject(new InvalidArgumentError(`a batch holds at most ${tradeBatchMax} trades`));
    }
    return this.enqueue(header, requests);
  }

  /** Counts for Health; rejects with the StorageError once the store has failed. */
  async health(): Promise<StoreHealth> {
    if (this.failure !== undefined) throw this.failure;
    // Each applied trade adds one to one stock's version, so their sum counts every trade
    // ever applied, across restarts.
    return this.lock.read(() => {
      let tradesApplied = 0;
      for (const state of this.stocks.values()) tradesApplied += state.version;
      return { stocks: this.stocks.size, tradesApplied, lastNumber: this.sequence.lastNumber, epoch: this.sequence.epoch };
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

  private enqueue(header: TradeBatchHeader, requests: readonly TradeRequest[]): Promise<TradeBatchReply> {
    if (this.closing !== undefined) return Promise.reject(new StoreClosedError());
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const room = queueRoom(requests);
    if (this.queuedRoom + room > limits.tradesQueuedMax) {
      return Promise.reject(new OverloadedError(`more than ${limits.tradesQueuedMax} trades are waiting for the disk`));
    }
    const done = new Promise<TradeBatchReply>((resolve, reject) => this.queue.push({ header, requests, resolve, reject }));
    this.queuedRoom += room;
    this.draining ??= this.drain();
    return done;
  }

  /**
   * Natural batching: a call that finds no commit running starts one at once (a lone leader
   * waits for nothing); calls that arrive while a commit writes join the next one.
   */
  private async drain(): Promise<void> {
    // One microtask, so `draining` is set before a commit that never awaits could clear it.
    await Promise.resolve();
    while (this.queue.length > 0) {
      await this.commit(this.takeJobs());
    }
    this.draining = undefined;
  }

  /** Whole jobs, oldest first, up to tradesPerCommitMax trades (always at least one job). */
  private takeJobs(): Job[] {
    let trades = 0;
    let room = 0;
    let count = 0;
    for (const job of this.queue) {
      if (count > 0 && trades + job.requests.length > limits.tradesPerCommitMax) break;
      trades += job.requests.length;
      room += queueRoom(job.requests);
      count++;
    }
    const jobs = this.queue.splice(0, count);
    this.queuedRoom -= room;
    return jobs;
  }

  private async commit(jobs: Job[]): Promise<void> {
    if (this.failure !== undefined) return this.rejectAll(jobs, this.failure);
    const plan = planGroup(this.sequence, this.stocks, jobs);
    const writeStart = performance.now();
    try {
      // The fence first: once a caller could hear of the new epoch, a restart must know it.
      if (plan.epoch > this.sequence.epoch) await this.epochFile.write(plan.epoch);
      if (plan.applied.length > 0) await this.journal.append(plan.applied);
    } catch (err) {
      const failure = new StorageError("writing the epoch or the journal failed", { cause: err });
      this.fail(failure);
      return this.rejectAll(jobs, failure);
    }
    const durableMs = plan.epoch > this.sequence.epoch || plan.applied.length > 0 ? performance.now() - writeStart : 0;
    // Granted at once (the install is synchronous and nothing holds the lock across a turn), so
    // the invalidations and answers below follow the install in the same step.
    const installed = this.lock.write(() => this.install(plan));
    if (installed instanceof Promise) await installed;
    if (plan.applied.length > 0) this.commitCount++;
    this.logEpochs(plan);
    // Invalidations go out before the replies: by the time a trader can see its reply, the
    // push to every frontend is already queued on its stream (read-your-writes, README: The cache).
    this.publish(plan.changed);
    this.answer(jobs, plan, durableMs);
    this.tradesSinceCheckpoint += plan.applied.length;
    if (this.tradesSinceCheckpoint >= this.checkpointTradesInterval) await this.checkpoint();
  }

  private install(plan: GroupPlan): void {
    const trades = new Map<string, number>();
    for (const row of plan.applied) trades.set(row.name, (trades.get(row.name) ?? 0) + 1);
    for (const [name, state] of plan.changed) {
      const before = this.stocks.get(name);
      assert(
        before !== undefined && state.version === before.version + (trades.get(name) ?? 0),
        "a commit adds one version per applied trade",
      );
      this.stocks.set(name, state);
    }
    if (plan.epoch > this.sequence.epoch) this.sequence.raiseEpoch(plan.epoch);
    for (const row of plan.applied) this.sequence.record(row);
  }

  private logEpochs(plan: GroupPlan): void {
    for (const raise of plan.raises) this.log.info("new leader epoch", { epoch: raise.epoch, leader_id: raise.leaderId });
  }

  private publish(changed: ReadonlyMap<string, StockState>): void {
    if (changed.size === 0) return;
    const invalidations = [...changed].map(([name, state]) => ({ name, version: state.version }));
    for (const listener of this.listeners) listener(invalidations);
  }

  private answer(jobs: readonly Job[], plan: GroupPlan, durableMs: number): void {
    assert(jobs.length === plan.outcomes.length, "one outcome per job");
    for (const [i, job] of jobs.entries()) {
      const outcome = plan.outcomes[i];
      assert(outcome !== undefined, "one outcome per job");
      if (outcome.ok) {
        // Only a call whose trades this commit wrote waited for that write.
        if (outcome.reply.results.length > 0) outcome.reply.durableMs = durableMs;
        job.resolve(outcome.reply);
        continue;
      }
      this.logRefusal(job.header, outcome.error);
      job.reject(outcome.error);
    }
  }

  /** Refusals that mean a deposed leader or lost data are worth a line; routine ones are not. */
  private logRefusal(header: TradeBatchHeader, err: Error): void {
    const fields = { epoch: header.epoch, leader_id: header.leaderId, after_number: header.afterNumber, error: err.message };
    if (err instanceof SequenceAheadError) this.log.error("refused a batch: the leader holds numbers the catalog never gave", fields);
    // A deposed or lagging leader retries every few milliseconds until it learns: one line per
    // interval, with the count of the lines held back.
    else if (err instanceof ForgottenTradesError) {
      this.log.limited("warn", "refused a batch: the leader lacks trades no longer kept", fields);
    } else if (err instanceof StaleEpochError) this.log.limited("warn", "refused a batch from a deposed leader", fields);
  }

  /**
   * Rewrite catalog.csv and compact the journal. Runs only inside the batcher or at
   * open/close, so no commit changes the table or the numbering meanwhile and every state in
   * the table is already durable in the journal; that is why it needs no lock.
   */
  private async checkpoint(): Promise<void> {
    try {
      await checkpoint(this.dir, this.stocks, this.sequence, this.journal);
      this.tradesSinceCheckpoint = 0;
      this.checkpointCount++;
      this.log.debug("checkpoint written", { last_number: this.sequence.lastNumber, retained: this.sequence.size });
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
    this.queuedRoom = 0;
    this.rejectAll(queued, err);
  }

  private rejectAll(jobs: readonly Job[], err: Error): void {
    for (const job of jobs) job.reject(err);
  }
}
