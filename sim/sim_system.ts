// The simulated Stock Bazaar: three order replicas running the real protocol core
// (order/core.ts) on simulated disks, a catalog running the real sequencing and trade rules
// (catalog/sequence.ts, catalog/trade.ts) on a simulated journal, frontends running the real
// leader choice (lib/leader_choice.ts) with the frontend's retry rules, and clients placing
// orders. Faults (crashes, pauses, torn writes, failed fsyncs, a lossy network) are drawn by
// sim/scenario.ts; the invariants are checked as the events happen (see `Checker`).

import { assert } from "../lib/assert.ts";
import { chooseLeader } from "../lib/leader_choice.ts";
import type { ReplicaView } from "../lib/leader_choice.ts";
import type { TradeBatchReply, TradeBatchRequest } from "../gen/catalog.ts";
import { OrderSide, PlaceStatus } from "../gen/order.ts";
import type { AppendReply, OrderRecord, PlaceReply, SetLeaderReply, VoteReply } from "../gen/order.ts";
import { decideBatch } from "../catalog/sequence.ts";
import type { SequenceDecision } from "../catalog/sequence.ts";
import { applyTrade, planCommit } from "../catalog/trade.ts";
import type { AppliedTrade, StockState } from "../catalog/trade.ts";
import { ReplicaCore } from "../order/core.ts";
import { orderOfSequenced } from "../order/order_rules.ts";
import { sequencedTrade } from "../catalog/group_plan.ts";
import type { Action, CallResult, CatalogRefusal, Input, Vote } from "../order/core.ts";
import { Network, Proc, Rng, Scheduler } from "./world.ts";
import type { NetProfile } from "./world.ts";

/** Simulated process timings, in ms: what the real services and machines roughly do. */
export const simTiming = {
  /** The shell ticks its core this often. */
  tickMs: 10,
  /** One write + fdatasync. */
  fsyncMs: [0.1, 2] as const,
  /** The frontend's deadlines and retry budget (frontend/limits.ts). */
  placeTimeoutMs: 2_000,
  getTimeoutMs: 1_000,
  healthTimeoutMs: 1_000,
  setLeaderTimeoutMs: 3_000,
  orderRetryBudgetMs: 10_000,
  retryBackoffMs: [10, 200] as const,
  leaderEstablishWaitMs: 2_000,
  selectPollMs: 50,
};

export type Violation = { readonly at: number; readonly message: string };

/** The invariants, checked as events happen; the first violation ends the run. */
export class Checker {
  violation: Violation | undefined;
  private readonly sched: Scheduler;
  /** Request id → acknowledged number. */
  readonly acked = new Map<string, number>();
  /** Epoch → the replica that led it. */
  readonly leaders = new Map<number, number>();

  constructor(sched: Scheduler) {
    this.sched = sched;
  }

  fail(message: string): void {
    this.violation ??= { at: this.sched.now, message };
  }
}

/** The catalog's durable journal and fence epoch, and what a crash leaves of a write in flight. */
class SimCatalog {
  readonly proc = new Proc("catalog");
  /** Every trade ever durably applied, in number order: the sequence every log must be a prefix of. */
  readonly rows: AppliedTrade[] = [];
  private durableEpoch = 0;
  // In memory (rebuilt from the durable state at start):
  private stocks = new Map<string, StockState>();
  private byRequestId = new Map<string, number>();
  private epoch = 0;
  private queue: { request: TradeBatchRequest; respond: (r: TradeBatchReply | CatalogRefusal) => void }[] = [];
  private writing: { rows: AppliedTrade[]; epoch: number } | undefined;
  private readonly initial: ReadonlyMap<string, StockState>;
  private readonly world: SimSystem;

  constructor(world: SimSystem, initial: ReadonlyMap<string, StockState>) {
    this.world = world;
    this.initial = initial;
    this.load();
  }

  /** Stocks as the trade rules derive them from `rows`; fails the check when a row does not follow. */
  static replay(
    initial: ReadonlyMap<string, StockState>,
    rows: readonly { name: string; side: "buy" | "sell"; quantity: number }[],
  ): Map<string, StockState> | string {
    const stocks = new Map(initial);
    for (const r of rows) {
      const before = stocks.get(r.name);
      if (!before) return `unknown stock ${r.name}`;
      const outcome = applyTrade(before, r.side, r.quantity);
      if (!outcome.ok) return `trade on ${r.name} does not apply: ${outcome.message}`;
      stocks.set(r.name, outcome.after);
    }
    return stocks;
  }

  stocksNow(): ReadonlyMap<string, StockState> {
    return this.stocks;
  }

  private load(): void {
    const replayed = SimCatalog.replay(this.initial, this.rows);
    assert(typeof replayed !== "string", "the durable journal replays");
    this.stocks = replayed;
    this.byRequestId = new Map(this.rows.map((r) => [r.requestId, r.number]));
    this.epoch = Math.max(this.durableEpoch, this.rows[this.rows.length - 1]?.epoch ?? 0);
    this.queue = [];
    this.writing = undefined;
  }

  crash(): void {
    const w = this.writing;
    if (w) {
      // A torn journal write: the rows are appended in order, so a prefix of them may be on disk.
      const kept = this.world.rng.int(w.rows.length + 1);
      for (const r of w.rows.slice(0, kept)) this.persistRow(r);
      if (this.world.rng.chance(0.5)) this.durableEpoch = Math.max(this.durableEpoch, w.epoch);
      this.world.trace(`catalog crash: ${kept}/${w.rows.length} rows of the write in flight survive`);
    }
    this.proc.crash();
  }

  restart(): void {
    this.proc.start();
    this.load();
    this.world.trace(`catalog restart: last ${this.rows.length - 1} epoch ${this.epoch}`);
  }

  private persistRow(r: AppliedTrade): void {
    assert(r.number === this.rows.length, "journal rows are numbered consecutively");
    this.rows.push(r);
    this.durableEpoch = Math.max(this.durableEpoch, r.epoch);
  }

  handle(request: TradeBatchRequest, respond: (r: TradeBatchReply | CatalogRefusal) => void): void {
    this.queue.push({ request, respond });
    if (!this.writing && this.queue.length === 1) this.next();
  }

  private next(): void {
    const job = this.queue.shift();
    if (!job) return;
    const { request } = job;
    const last = this.rows.length - 1;
    const view = { lastNumber: last, epoch: this.epoch, trade: (n: number) => this.rows[n] };
    const header = { ...request, tradeCount: request.trades.length };
    const d: SequenceDecision = decideBatch(
      view,
      this.world.ignorePosition ? { ...header, afterNumber: last, commitNumber: Math.min(request.commitNumber, last) } : header,
    );
    if (d.kind !== "apply" && d.kind !== "missing") {
      job.respond(d.kind);
      return this.next();
    }
    const raised = d.raiseEpoch ? request.epoch : this.epoch;
    const plan = d.kind === "apply"
      ? planCommit(this.stocks, this.byRequestId, request.trades, { firstNumber: last + 1, epoch: request.epoch })
      : undefined;
    const rows = plan?.applied ?? [];
    if (rows.length === 0 && !d.raiseEpoch) return this.finish(job, d, plan?.replies ?? []);
    this.writing = { rows, epoch: raised };
    const inc = this.proc.incarnation;
    this.world.disk("catalog", () => {
      if (inc !== this.proc.incarnation) return;
      this.writing = undefined;
      for (const r of rows) this.persistRow(r);
      this.durableEpoch = Math.max(this.durableEpoch, raised);
      this.epoch = Math.max(this.epoch, raised);
      if (plan) {
        for (const [name, state] of plan.changed) this.stocks.set(name, state);
        for (const r of rows) this.byRequestId.set(r.requestId, r.number);
      }
      this.finish(job, d, plan?.replies ?? []);
    });
  }

  private finish(job: (typeof this.queue)[number], d: SequenceDecision, results: TradeBatchReply["results"]): void {
    const lastNumber = this.rows.length - 1;
    if (d.kind === "missing") job.respond({ results: [], missing: d.trades.map(sequencedTrade), lastNumber, durableMs: 0 });
    else job.respond({ results, missing: [], lastNumber, durableMs: 0 });
    this.next();
  }
}

export function recordOfTrade(t: AppliedTrade): OrderRecord {
  return orderOfSequenced(sequencedTrade(t));
}

type Pending = (result: CallResult) => void;

/** One order replica: the real core, a simulated disk (log + vote file) and its calls in flight. */
class SimReplica {
  readonly id: number;
  readonly proc: Proc;
  /** Durable state: what a restart loads. */
  readonly log: OrderRecord[] = [];
  vote: Vote = { epoch: 0, votedFor: 0 };
  core: ReplicaCore | undefined;
  /** Writes handed to the disk and not yet durable, in order, per file (the log and the vote file are independent). */
  private inflightLog: (readonly OrderRecord[])[] = [];
  private inflightVote: Vote[] = [];
  /** The next write fails (EIO/ENOSPC); after a failure nothing completes until a restart. */
  failNextWrite = false;
  /** Crash while the next write is in flight, then restart after this many ms (0: off). */
  crashOnWriteMs = 0;
  private diskBroken = false;
  private calls = new Map<number, Pending>();
  private nextCall = 1;
  private readonly world: SimSystem;

  constructor(world: SimSystem, id: number) {
    this.world = world;
    this.id = id;
    this.proc = new Proc(`replica-${id}`);
    this.boot();
  }

  private boot(): void {
    this.core = new ReplicaCore({ id: this.id, ids: this.world.ids, log: this.log, vote: this.vote, now: this.world.sched.now });
    this.calls = new Map();
    this.inflightLog = [];
    this.inflightVote = [];
    this.diskBroken = false;
    this.failNextWrite = false;
    this.scheduleTick();
  }

  private scheduleTick(): void {
    const inc = this.proc.incarnation;
    this.world.sched.after(simTiming.tickMs, () => {
      if (inc !== this.proc.incarnation || !this.proc.up) return;
      this.proc.deliver(this.world.sched, inc, () => {
        this.step({ kind: "tick" });
        this.scheduleTick();
      });
    });
  }

  crash(): void {
    // Writes in flight: a prefix of each file's writes reached the disk, independently (a torn
    // or short append keeps a prefix of its lines, a torn last line being dropped on reading;
    // a vote file is replaced whole or not at all).
    const rng = this.world.rng;
    const keptLog = rng.int(this.inflightLog.length + 1);
    for (let i = 0; i < keptLog; i++) {
      const orders = this.inflightLog[i] as readonly OrderRecord[];
      this.persistOrders(i === keptLog - 1 && rng.chance(0.5) ? orders.slice(0, rng.int(orders.length + 1)) : orders);
    }
    const keptVotes = rng.int(this.inflightVote.length + 1);
    if (keptVotes > 0) this.vote = this.inflightVote[keptVotes - 1] as Vote;
    this.proc.crash();
    this.core = undefined;
    this.world.trace(`${this.proc.name} crash: log ${this.log.length - 1} vote ${this.vote.epoch}/${this.vote.votedFor}`);
  }

  restart(): void {
    this.proc.start();
    this.boot();
    this.world.trace(`${this.proc.name} restart: log ${this.log.length - 1} vote ${this.vote.epoch}/${this.vote.votedFor}`);
  }

  private persistOrders(orders: readonly OrderRecord[]): void {
    for (const o of orders) {
      assert(o.number === this.log.length, "the disk log grows by consecutive numbers");
      this.world.checkDurableOrder(this.id, o);
      this.log.push(o);
    }
  }

  /** Feed one input to the core and carry out its actions. */
  step(input: Input): void {
    const core = this.core;
    if (!core) return;
    const actions = core.step(input, this.world.sched.now);
    if (core.role === "leader") this.world.sawLeader(this.id, core);
    for (const a of actions) this.act(a);
  }

  /** Register a call into this replica; `then` gets the core's answer. */
  call(then: Pending): number {
    const id = this.nextCall++;
    this.calls.set(id, then);
    return id;
  }

  private act(a: Action): void {
    const w = this.world;
    switch (a.kind) {
      case "persistLog":
      case "persistVote": {
        if (a.kind === "persistLog") this.inflightLog.push(a.orders);
        else this.inflightVote.push(a.vote);
        if (this.crashOnWriteMs > 0) {
          // The process dies with this write in flight: the crash decides how much of it lands.
          const restartAfter = this.crashOnWriteMs;
          this.crashOnWriteMs = 0;
          w.sched.after(0, () => {
            if (!this.proc.up) return;
            this.crash();
            w.sched.after(restartAfter, () => {
              if (!this.proc.up) this.restart();
            });
          });
        }
        if (this.failNextWrite) {
          this.failNextWrite = false;
          this.diskBroken = true;
          const inc = this.proc.incarnation;
          w.sched.after(
            0.1,
            () => this.proc.deliver(w.sched, inc, () => this.step({ kind: "diskFailed", message: "EIO: injected write failure" })),
          );
        }
        if (this.diskBroken) return;
        const inc = this.proc.incarnation;
        w.disk(`${this.proc.name}:${a.kind}`, () => {
          if (inc !== this.proc.incarnation || this.diskBroken) return;
          if (a.kind === "persistVote") {
            assert(this.inflightVote[0] === a.vote, "vote writes complete in order");
            this.inflightVote.shift();
            this.vote = a.vote;
            this.proc.deliver(w.sched, inc, () => this.step({ kind: "voteDurable", vote: a.vote }));
            return;
          }
          assert(this.inflightLog[0] === a.orders, "log writes complete in order");
          this.inflightLog.shift();
          this.persistOrders(a.orders);
          const upTo = (a.orders[a.orders.length - 1] as OrderRecord).number;
          this.proc.deliver(w.sched, inc, () => this.step({ kind: "logDurable", upTo }));
        });
        return;
      }
      case "sendVote":
      case "sendAppend": {
        const target = w.replicas.get(a.to);
        assert(target !== undefined, "a peer is a replica");
        const inc = this.proc.incarnation;
        const back = (input: Input): void => w.net.send(this.proc, () => this.proc.deliver(w.sched, inc, () => this.step(input)));
        const refused = (): void => back({ kind: "peerFailed", from: a.to });
        w.net.send(target.proc, () => {
          const call = target.call((result) => {
            if (!result.ok) return back({ kind: "peerFailed", from: target.id });
            if (a.kind === "sendVote") back({ kind: "voteReply", from: target.id, reply: result.value as VoteReply });
            else back({ kind: "appendReply", from: target.id, reply: result.value as AppendReply });
          });
          target.step(
            a.kind === "sendVote" ? { kind: "voteRequest", call, request: a.request } : { kind: "append", call, request: a.request },
          );
        }, refused);
        return;
      }
      case "callCatalog": {
        const inc = this.proc.incarnation;
        const back = (input: Input): void => w.net.send(this.proc, () => this.proc.deliver(w.sched, inc, () => this.step(input)));
        w.net.send(w.catalog.proc, () =>
          w.catalog.handle(a.request, (r) => {
            if (typeof r === "string") back({ kind: "catalogFailed", call: a.call, refusal: r, message: `catalog refused: ${r}` });
            else back({ kind: "catalogReply", call: a.call, reply: r });
          }), () => back({ kind: "catalogFailed", call: a.call, refusal: undefined, message: "catalog down" }));
        return;
      }
      case "reply": {
        const then = this.calls.get(a.call);
        assert(then !== undefined, "a reply answers a pending call");
        this.calls.delete(a.call);
        then(a.result);
        return;
      }
      case "log":
        if (w.tracing) w.trace(`${this.proc.name} ${a.level}: ${a.message} ${JSON.stringify(a.fields)}`);
        return;
    }
  }
}

type Outcome = { readonly kind: "ok"; readonly number: number } | { readonly kind: "refused" } | {
  readonly kind: "unknown";
  readonly why: string;
};
type OrderSpec = { readonly requestId: string; readonly name: string; readonly side: OrderSide; readonly quantity: number };

/** A frontend: leader choice and the retry rules of frontend/order_gateway.ts, as callbacks on the simulated clock. */
class SimFrontend {
  readonly proc: Proc;
  private knownEpoch = 0;
  private leader: number | undefined;
  private selecting: (() => void)[] | undefined;
  private waitedFor: { id: number; epoch: number; since: number } | undefined;
  private readonly world: SimSystem;
  /** Client callbacks in flight: a crash answers them "unknown" (the connection dropped). */
  private open = new Map<number, (o: Outcome) => void>();
  private nextOpen = 1;
  elections = 0;

  constructor(world: SimSystem, index: number) {
    this.world = world;
    this.proc = new Proc(`frontend-${index}`);
  }

  crash(): void {
    const open = [...this.open.values()];
    this.open.clear();
    this.proc.crash();
    this.leader = undefined;
    this.selecting = undefined;
    this.waitedFor = undefined;
    for (const done of open) done({ kind: "unknown", why: "frontend crashed" });
  }

  restart(): void {
    this.proc.start();
  }

  /** A client order through this frontend; `done` runs exactly once. */
  place(order: OrderSpec, done: (o: Outcome) => void): void {
    const key = this.nextOpen++;
    this.open.set(key, done);
    const inc = this.proc.incarnation;
    const finish = (o: Outcome): void => {
      if (inc !== this.proc.incarnation || !this.open.delete(key)) return;
      done(o);
    };
    this.attempt(order, this.world.sched.now + simTiming.orderRetryBudgetMs, simTiming.retryBackoffMs[0], finish);
  }

  /** GET /orders/{n} through the leader: the order, undefined for 404, or "unknown". */
  get(number: number, done: (o: OrderRecord | undefined | "unknown") => void): void {
    const inc = this.proc.incarnation;
    const leader = this.leader;
    if (leader === undefined) return done("unknown");
    this.callReplica(leader, simTiming.getTimeoutMs, (call) => ({ kind: "get", call, number }), (r) => {
      if (inc !== this.proc.incarnation) return;
      if (r === undefined) return done("unknown");
      if (r.ok) return done(r.value as OrderRecord);
      done(r.error.code === "NOT_FOUND" ? undefined : "unknown");
    });
  }

  private attempt(order: OrderSpec, deadline: number, backoff: number, finish: (o: Outcome) => void): void {
    const w = this.world;
    const retry = (why: string): void => {
      if (w.sched.now + backoff >= deadline) return finish({ kind: "unknown", why: `retries ran out: ${why}` });
      const inc = this.proc.incarnation;
      w.sched.after(backoff, () =>
        this.proc.deliver(w.sched, inc, () => {
          const next = Math.min(backoff * 2, simTiming.retryBackoffMs[1]);
          const failed = this.leader;
          // A leader that still answers as the ready leader failed for another reason: retry it.
          this.stillLeading(failed, (yes) => {
            if (yes) return this.attempt(order, deadline, next, finish);
            if (this.leader === failed) this.leader = undefined;
            this.select(() => this.attempt(order, deadline, next, finish));
          });
        }));
    };
    const leader = this.leader;
    if (leader === undefined) {
      if (w.sched.now >= deadline) return finish({ kind: "unknown", why: "no leader" });
      return this.select(() => (this.leader === undefined ? retry("no leader") : this.attempt(order, deadline, backoff, finish)));
    }
    const request = { requestId: order.requestId, name: order.name, side: order.side, quantity: order.quantity };
    this.callReplica(leader, simTiming.placeTimeoutMs, (call) => ({ kind: "place", orders: [{ call, request }] }), (r) => {
      if (r === undefined) return retry("deadline or connection");
      if (!r.ok) return retry(`${r.error.code}: ${r.error.message}`);
      const reply = r.value as PlaceReply;
      if (reply.status === PlaceStatus.PLACE_OK) return finish({ kind: "ok", number: reply.number });
      if (reply.status === PlaceStatus.PLACE_RETRY) return retry("PLACE_RETRY");
      finish({ kind: "refused" });
    });
  }

  private stillLeading(id: number | undefined, then: (yes: boolean) => void): void {
    if (id === undefined) return then(false);
    this.health(id, (h) => then(h !== undefined && h.ready && h.role === "leader" && h.leaderId === id && h.epoch >= this.knownEpoch));
  }

  /** Single flight: concurrent callers share one selection. */
  private select(then: () => void): void {
    if (this.selecting) {
      this.selecting.push(then);
      return;
    }
    this.selecting = [then];
    this.selectRound(this.world.sched.now + simTiming.orderRetryBudgetMs);
  }

  private endSelect(): void {
    const waiting = this.selecting ?? [];
    this.selecting = undefined;
    for (const fn of waiting) fn();
  }

  private selectRound(deadline: number): void {
    const w = this.world;
    const inc = this.proc.incarnation;
    const views: ReplicaView[] = [];
    let answered = 0;
    for (const id of w.ids) {
      this.health(id, (h) => {
        views.push(
          h ? { up: true, ...h } : { id, up: false, epoch: 0, leaderId: 0, role: "follower", ready: false, lastNumber: -1, lastEpoch: 0 },
        );
        if (++answered < w.ids.length || inc !== this.proc.incarnation) return;
        views.sort((a, b) => a.id - b.id);
        for (const v of views) if (v.up) this.knownEpoch = Math.max(this.knownEpoch, v.epoch);
        const patience = this.waitedFor && w.sched.now - this.waitedFor.since >= simTiming.leaderEstablishWaitMs
          ? this.waitedFor
          : undefined;
        const choice = chooseLeader(views, w.ids.length, this.knownEpoch, patience);
        const again = (ms: number): void => {
          if (w.sched.now + ms >= deadline) return this.endSelect();
          w.sched.after(ms, () => this.proc.deliver(w.sched, inc, () => this.selectRound(deadline)));
        };
        if (choice.kind === "adopt") {
          this.leader = choice.id;
          this.knownEpoch = choice.epoch;
          return this.endSelect();
        }
        if (choice.kind === "wait") {
          if (this.waitedFor?.id !== choice.id || this.waitedFor.epoch !== choice.epoch) {
            this.waitedFor = { id: choice.id, epoch: choice.epoch, since: w.sched.now };
          }
          return again(simTiming.selectPollMs);
        }
        if (choice.kind === "none") return again(simTiming.retryBackoffMs[1]);
        this.elections++;
        w.trace(`${this.proc.name} asks replica ${choice.id} to lead epoch ${choice.epoch}`);
        this.callReplica(
          choice.id,
          simTiming.setLeaderTimeoutMs,
          (call) => ({ kind: "setLeader", call, leaderId: choice.id, epoch: choice.epoch }),
          (r) => {
            if (r?.ok) {
              this.leader = choice.id;
              this.knownEpoch = Math.max(this.knownEpoch, (r.value as SetLeaderReply).epoch);
              return this.endSelect();
            }
            again(simTiming.selectPollMs);
          },
        );
      });
    }
  }

  private health(id: number, then: (h: ReturnType<ReplicaCore["health"]> | undefined) => void): void {
    const w = this.world;
    const target = w.replicas.get(id) as SimReplica;
    const inc = this.proc.incarnation;
    let settled = false;
    const settle = (h: ReturnType<ReplicaCore["health"]> | undefined): void => {
      if (settled) return;
      settled = true;
      this.proc.deliver(w.sched, inc, () => then(h));
    };
    w.sched.after(simTiming.healthTimeoutMs, () => settle(undefined));
    w.net.send(target.proc, () => {
      const h = target.core?.health();
      if (h) w.net.send(this.proc, () => settle(h));
    }, () => settle(undefined));
  }

  /** One call into a replica's core with a deadline; `then(undefined)` on deadline or refusal. */
  private callReplica(id: number, timeoutMs: number, input: (call: number) => Input, then: (r: CallResult | undefined) => void): void {
    const w = this.world;
    const target = w.replicas.get(id) as SimReplica;
    const inc = this.proc.incarnation;
    let settled = false;
    const settle = (r: CallResult | undefined): void => {
      if (settled) return;
      settled = true;
      this.proc.deliver(w.sched, inc, () => then(r));
    };
    w.sched.after(timeoutMs, () => settle(undefined));
    w.net.send(target.proc, () => {
      const call = target.call((result) => w.net.send(this.proc, () => settle(result)));
      target.step(input(call));
    }, () => settle(undefined));
  }
}

export type SimSystemOptions = {
  readonly seed: number;
  readonly tracing: boolean;
  readonly net: NetProfile;
  readonly frontends: number;
  /** Slow disks: fsyncs draw from this range instead of simTiming.fsyncMs. */
  readonly fsyncMs: readonly [number, number];
  /** A deliberate bug (sim.test.ts): the catalog applies batches whatever the leader's last number. */
  readonly ignorePosition?: boolean;
};

/** Everything one seed runs: the processes, the network, the disks and the checks. */
export class SimSystem {
  readonly sched = new Scheduler();
  readonly rng: Rng;
  readonly net: Network;
  readonly ids = [1, 2, 3] as const;
  readonly replicas = new Map<number, SimReplica>();
  readonly catalog: SimCatalog;
  readonly frontends: SimFrontend[] = [];
  readonly checker: Checker;
  readonly tracing: boolean;
  readonly ignorePosition: boolean;
  readonly initial: ReadonlyMap<string, StockState>;
  readonly traceLines: string[];
  private readonly fsyncMs: readonly [number, number];

  constructor(options: SimSystemOptions, initial: ReadonlyMap<string, StockState>, traceLines: string[] = []) {
    this.traceLines = traceLines;
    this.rng = new Rng(options.seed);
    this.tracing = options.tracing;
    this.ignorePosition = options.ignorePosition ?? false;
    this.fsyncMs = options.fsyncMs;
    this.net = new Network(this.sched, this.rng, options.net);
    this.checker = new Checker(this.sched);
    this.initial = initial;
    this.catalog = new SimCatalog(this, initial);
    for (const id of this.ids) this.replicas.set(id, new SimReplica(this, id));
    for (let i = 0; i < options.frontends; i++) this.frontends.push(new SimFrontend(this, i + 1));
  }

  trace(line: string): void {
    if (this.tracing) this.traceLines.push(`${this.sched.now.toFixed(3).padStart(10)} ${line}`);
  }

  /** A write + fsync of `file` completing later; writes to one file finish in order. */
  private diskFree = new Map<string, number>();
  disk(file: string, done: () => void): void {
    const start = Math.max(this.sched.now, this.diskFree.get(file) ?? 0);
    const end = start + this.rng.range(this.fsyncMs[0], this.fsyncMs[1]);
    this.diskFree.set(file, end);
    this.sched.at(end, done);
  }

  // --- Invariants ------------------------------------------------------------------------

  /** Every order durable in any log is the catalog's trade with that number: all logs are prefixes of one sequence. */
  checkDurableOrder(replica: number, o: OrderRecord): void {
    const t = this.catalog.rows[o.number];
    if (!t) return this.checker.fail(`replica ${replica} holds order ${o.number} (${o.requestId}) that the catalog never numbered`);
    const want = recordOfTrade(t);
    if (
      want.requestId !== o.requestId || want.epoch !== o.epoch || want.name !== o.name || want.side !== o.side ||
      want.quantity !== o.quantity
    ) {
      this.checker.fail(
        `replica ${replica} holds order ${o.number} as ${o.requestId}@${o.epoch} but the catalog numbered ${t.requestId}@${t.epoch} there`,
      );
    }
  }

  /** The highest number durable on a majority of the replicas' disks. */
  committedOnDisk(): number {
    const lengths = [...this.replicas.values()].map((r) => r.log.length).sort((a, b) => b - a);
    return (lengths[1] as number) - 1;
  }

  /** At most one leader per epoch, and a new leader holds every order a majority holds. */
  sawLeader(id: number, core: ReplicaCore): void {
    const known = this.checker.leaders.get(core.epoch);
    if (known === id) return;
    if (known !== undefined) return this.checker.fail(`two leaders in epoch ${core.epoch}: replicas ${known} and ${id}`);
    this.checker.leaders.set(core.epoch, id);
    this.trace(`replica ${id} leads epoch ${core.epoch} with log ${core.lastNumber}`);
    const committed = this.committedOnDisk();
    if (core.lastNumber < committed) {
      this.checker.fail(`replica ${id} leads epoch ${core.epoch} without order ${committed}, which a majority holds`);
    }
  }

  /** A client was told `number` for `requestId`. */
  acknowledged(requestId: string, order: OrderSpec, number: number): void {
    const c = this.checker;
    const earlier = c.acked.get(requestId);
    if (earlier !== undefined && earlier !== number) return c.fail(`request ${requestId} acknowledged as ${earlier} and as ${number}`);
    c.acked.set(requestId, number);
    const onDisk = [...this.replicas.values()].filter((r) => r.log[number]?.requestId === requestId).length;
    if (onDisk < 2) c.fail(`order ${number} (${requestId}) acknowledged while durable on ${onDisk} replica(s)`);
    const t = this.catalog.rows[number];
    if (!t || t.requestId !== requestId || t.name !== order.name || t.quantity !== order.quantity) {
      c.fail(`order ${number} acknowledged for ${requestId} but the catalog numbered ${t?.requestId ?? "nothing"} there`);
    }
  }

  /** After healing: every log equals the catalog's sequence, and the catalog's stocks follow from the log. */
  checkConverged(): void {
    const c = this.checker;
    const rows = this.catalog.rows;
    for (const r of this.replicas.values()) {
      if (r.log.length !== rows.length) {
        return c.fail(`after healing, replica ${r.id} holds ${r.log.length} orders, the catalog numbered ${rows.length}`);
      }
    }
    const log = (this.replicas.get(1) as SimReplica).log;
    const replayed = SimCatalog.replay(
      this.initial,
      log.map((o) => ({
        name: o.name,
        quantity: o.quantity,
        side: o.side === OrderSide.ORDER_SIDE_BUY ? "buy" as const : "sell" as const,
      })),
    );
    if (typeof replayed === "string") return c.fail(`the log does not replay: ${replayed}`);
    for (const [name, state] of this.catalog.stocksNow()) {
      const want = replayed.get(name);
      if (want?.quantity !== state.quantity || want.volume !== state.volume) {
        return c.fail(
          `catalog ${name} quantity ${state.quantity} volume ${state.volume}; the log says ${want?.quantity} and ${want?.volume}`,
        );
      }
    }
    for (const [requestId, number] of c.acked) {
      if (log[number]?.requestId !== requestId) c.fail(`acknowledged order ${number} (${requestId}) is not in the log after healing`);
    }
  }
}

export type { OrderSpec, Outcome };
export { SimCatalog, SimFrontend, SimReplica };
