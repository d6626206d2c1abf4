// The replication protocol of one order replica as a deterministic state machine, with no IO
// and no clock (etcd-raft style): `step(input, now)` takes one message, reply, disk completion
// or tick, changes the state, and returns the actions to carry out (write to disk, send, call
// the catalog, answer a caller). order/shell.ts runs it for real; the simulator (sim/) runs the
// same class under seeded schedules. The rules and the safety argument are protos/PROTOCOL.md.
//
// In short: the frontend asks a replica to campaign (SetLeader); it becomes leader of an epoch
// with the durable votes of a majority, each voter granting only a candidate whose log is at
// least as up to date as its own. The leader sends queued orders to the catalog, which applies
// and numbers them (the catalog is the sequencer: a leader must hold everything the catalog
// numbered before it may add more, so every log is a prefix of one sequence). It appends the
// numbered orders to its log and to its followers', and answers an order once a majority holds
// it durably (the commit point). A follower checks the order before the new ones (number and
// epoch) and never truncates. Durable state: the log, and the epoch with the vote.

import { assert } from "../lib/assert.ts";
import { logAtLeast, majorityOf } from "../lib/leader_choice.ts";
import { tradeBatchMax, uncommittedOrdersMax } from "../lib/protocol.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import type { SequencedTrade, TradeBatchReply, TradeBatchRequest, TradeReply } from "../gen/catalog.ts";
import { AppendOutcome, OrderSide, PlaceStatus } from "../gen/order.ts";
import type {
  AppendReply,
  AppendRequest,
  HealthReply,
  OrderRecord,
  PlaceReply,
  PlaceRequest,
  PlaceTiming,
  SetLeaderReply,
  VoteReply,
  VoteRequest,
} from "../gen/order.ts";
import type { OrderErrorCode } from "./errors.ts";
import * as limits from "./limits.ts";
import { orderOfSequenced, orderProblem, placeProblem, sameOrder } from "./order_rules.ts";

export type Role = "follower" | "candidate" | "leader";

/** The durable epoch and vote: the newest epoch known, and whom this replica voted for in it (0: nobody). */
export type Vote = { readonly epoch: number; readonly votedFor: number };

/** Identifies a caller waiting for an answer; the shell maps it to a pending RPC. */
export type CallId = number;

export type Failure = { readonly code: OrderErrorCode; readonly message: string };
export type CallResult =
  | { readonly ok: true; readonly value: PlaceReply | OrderRecord | SetLeaderReply | VoteReply | AppendReply }
  | { readonly ok: false; readonly error: Failure };

export type Input =
  | { readonly kind: "tick" }
  /** Orders to place (one PlaceBatch, or one Place): all are queued before a batch is cut. */
  | { readonly kind: "place"; readonly orders: readonly PlaceInput[] }
  | { readonly kind: "get"; readonly call: CallId; readonly number: number }
  | { readonly kind: "setLeader"; readonly call: CallId; readonly leaderId: number; readonly epoch: number }
  | { readonly kind: "voteRequest"; readonly call: CallId; readonly request: VoteRequest }
  | { readonly kind: "voteReply"; readonly from: number; readonly reply: VoteReply }
  | { readonly kind: "append"; readonly call: CallId; readonly request: AppendRequest }
  | { readonly kind: "appendReply"; readonly from: number; readonly reply: AppendReply }
  /** An Append or RequestVote to `from` failed in transport (down, deadline). */
  | { readonly kind: "peerFailed"; readonly from: number }
  | { readonly kind: "catalogReply"; readonly call: number; readonly reply: TradeBatchReply }
  /** The catalog refused (`refusal`) or the call failed in transport (outcome unknown). */
  | { readonly kind: "catalogFailed"; readonly call: number; readonly refusal: CatalogRefusal | undefined; readonly message: string }
  /** Every order up to `upTo` is durable in the local log. */
  | { readonly kind: "logDurable"; readonly upTo: number }
  | { readonly kind: "voteDurable"; readonly vote: Vote }
  /** A write or fsync failed: nothing more may be acknowledged. */
  | { readonly kind: "diskFailed"; readonly message: string };

/** One order to place; `traceId` (the frontend's request id, may be "") names it in log lines. */
export type PlaceInput = { readonly call: CallId; readonly request: PlaceRequest; readonly traceId?: string };

/** How the catalog refused a TradeBatch (its gRPC status, named). */
export type CatalogRefusal = "stale" | "window" | "invalid" | "ahead" | "forgotten";

export type Action =
  /** Append these orders to the local log, after everything handed over before; report logDurable. */
  | { readonly kind: "persistLog"; readonly orders: readonly OrderRecord[] }
  /** Write the epoch and vote durably; report voteDurable. */
  | { readonly kind: "persistVote"; readonly vote: Vote }
  | { readonly kind: "sendVote"; readonly to: number; readonly request: VoteRequest }
  | { readonly kind: "sendAppend"; readonly to: number; readonly request: AppendRequest }
  | { readonly kind: "callCatalog"; readonly call: number; readonly request: TradeBatchRequest }
  /** `timing`: where a placed order's time went (Server-Timing), when it had a catalog call of its own. */
  | { readonly kind: "reply"; readonly call: CallId; readonly result: CallResult; readonly timing?: PlaceTiming }
  | {
    readonly kind: "log";
    readonly level: "info" | "warn" | "error";
    readonly message: string;
    readonly fields: Record<string, string | number>;
  };

type Waiter = {
  readonly call: CallId;
  readonly request: PlaceRequest;
  readonly traceId: string;
  readonly since: number;
  /** The catalog call that numbered the order, once it did (for the answer's timing). */
  batch: BatchTiming | undefined;
};

/** When one TradeBatch went out and came back, and when the leader's own append of it was durable. */
type BatchTiming = {
  readonly sentAt: number;
  readonly repliedAt: number;
  readonly catalogFsyncMs: number;
  /** The last number the batch appended: durable locally once durableLast reaches it. */
  readonly upTo: number;
  durableAt: number | undefined;
};

type Progress = {
  readonly id: number;
  /** Next number to send. */
  next: number;
  /** Highest number known durable on the follower and equal to ours (-1: none known). */
  match: number;
  /** "probe": one Append at a time until it answers OK; "replicate": stream batches. */
  mode: "probe" | "replicate";
  /** Send time of each unanswered Append (oldest first); bounded by appendsInFlightMax. */
  inflight: number[];
  /** Last time anything was sent (heartbeats fill the silence). */
  sentAt: number;
  /** Earliest time the next probe may go (backoff while it fails). */
  retryAt: number;
  retryMs: number;
  /** The follower said its log differs from ours: impossible while disks survive; logged once. */
  diverged: boolean;
};

type Leadership = {
  readonly epoch: number;
  readonly followers: Map<number, Progress>;
  /** Orders waiting for the catalog, oldest first, and every waiter by request id. */
  queue: Waiter[];
  readonly pending: Map<string, Waiter[]>;
  /** The one TradeBatch in flight, with the waiters it carries. */
  catalogCall: { readonly id: number; readonly batch: Waiter[]; readonly sentAt: number } | undefined;
  /** False until the catalog answered positionally in this leadership, and after any unknown outcome. */
  catalogSynced: boolean;
  catalogRetryAt: number;
  catalogRetryMs: number;
  /** Waiters for an order's number to be committed, by number. */
  readonly committing: Map<number, Waiter[]>;
  /** Batches appended locally but not durable yet, oldest first (their fsync time is measured). */
  readonly appending: BatchTiming[];
  /** The last number when elected: the leader is ready once it is committed. */
  readonly lastAtElection: number;
  ready: boolean;
  /** SetLeader calls answered once ready. */
  readyCalls: { readonly call: CallId; readonly since: number }[];
};

type Campaign = {
  readonly epoch: number;
  readonly startedAt: number;
  readonly granted: Set<number>;
  askedAt: number;
  calls: CallId[];
};

export type CoreOptions = {
  readonly id: number;
  /** Every replica id, this one included. */
  readonly ids: readonly number[];
  /** The log as loaded from disk (durable), and the durable vote. */
  readonly log: readonly OrderRecord[];
  readonly vote: Vote;
  readonly now: number;
};

export class ReplicaCore {
  readonly id: number;
  readonly peers: readonly number[];
  private readonly majority: number;
  private readonly entries: OrderRecord[];
  private readonly numbers = new Map<string, number>();
  private durableLast: number;
  private vote: Vote;
  private durableVote: Vote;
  role: Role = "follower";
  /** The leader of the current epoch when known, 0 otherwise. */
  leaderId = 0;
  /** Highest number known committed (on a majority durably). */
  commit = -1;
  private now: number;
  private leadership: Leadership | undefined;
  private campaign: Campaign | undefined;
  /** Append acks and vote grants held until what they promise is durable. */
  private heldAcks: { readonly call: CallId; readonly match: number; readonly epoch: number }[] = [];
  private heldGrants: { readonly call: CallId; readonly vote: Vote }[] = [];
  private catalogCalls = 0;
  /** Why the disk failed: set once, and from then on nothing is acknowledged. */
  failed: string | undefined;
  private out: Action[] = [];

  constructor(options: CoreOptions) {
    assert(options.ids.includes(options.id), "a replica is one of the configured replicas");
    this.id = options.id;
    this.peers = options.ids.filter((i) => i !== options.id);
    this.majority = majorityOf(options.ids.length);
    this.entries = [...options.log];
    for (const [i, o] of this.entries.entries()) {
      assert(o.number === i, "a loaded log is numbered from 0");
      this.numbers.set(o.requestId, i);
    }
    this.durableLast = this.entries.length - 1;
    this.vote = options.vote;
    this.durableVote = options.vote;
    this.now = options.now;
  }

  get lastNumber(): number {
    return this.entries.length - 1;
  }

  get lastEpoch(): number {
    return this.entries[this.entries.length - 1]?.epoch ?? 0;
  }

  get epoch(): number {
    return this.vote.epoch;
  }

  /** The order at `number` in this replica's log (durable or not). */
  at(number: number): OrderRecord | undefined {
    return this.entries[number];
  }

  get ready(): boolean {
    if (this.failed !== undefined) return false;
    return this.role === "leader" ? this.leadership?.ready === true : this.role === "follower";
  }

  health(): HealthReply {
    const liveFollowers = this.leadership
      ? [...this.leadership.followers.values()].filter((p) => p.mode === "replicate" && p.match >= this.commit).map((p) => p.id)
      : [];
    return {
      id: this.id,
      lastNumber: this.lastNumber,
      epoch: this.epoch,
      leaderId: this.leaderId,
      ready: this.ready,
      liveFollowers,
      lastEpoch: this.lastEpoch,
      role: this.role,
      commitNumber: this.commit,
    };
  }

  step(input: Input, now: number): Action[] {
    this.now = Math.max(this.now, now);
    this.dispatch(input);
    const out = this.out;
    this.out = [];
    return out;
  }

  private dispatch(input: Input): void {
    switch (input.kind) {
      case "tick":
        return this.onTick();
      case "place":
        return this.onPlace(input.orders);
      case "get":
        return this.onGet(input.call, input.number);
      case "setLeader":
        return this.onSetLeader(input.call, input.leaderId, input.epoch);
      case "voteRequest":
        return this.onVoteRequest(input.call, input.request);
      case "voteReply":
        return this.onVoteReply(input.from, input.reply);
      case "append":
        return this.onAppend(input.call, input.request);
      case "appendReply":
        return this.onAppendReply(input.from, input.reply);
      case "peerFailed":
        return this.onPeerFailed(input.from);
      case "catalogReply":
        return this.onCatalogReply(input.call, input.reply);
      case "catalogFailed":
        return this.onCatalogFailed(input.call, input.refusal, input.message);
      case "logDurable":
        return this.onLogDurable(input.upTo);
      case "voteDurable":
        return this.onVoteDurable(input.vote);
      case "diskFailed":
        return this.onDiskFailed(input.message);
    }
  }

  // --- Transitions -----------------------------------------------------------------------

  /** A newer epoch (or news of the current one's leader): follow it. Ends any leadership or campaign. */
  private becomeFollower(epoch: number, leaderId: number, reason: string): void {
    assert(epoch >= this.vote.epoch, "epochs never go back");
    const changed = this.role !== "follower" || this.leaderId !== leaderId || epoch !== this.vote.epoch;
    if (epoch > this.vote.epoch) this.setVote({ epoch, votedFor: 0 });
    this.endLeadership(`${reason}; not leader`);
    this.endCampaign({ code: "STALE_EPOCH", message: `${reason}; campaign ended` });
    this.role = "follower";
    this.leaderId = leaderId;
    if (changed) this.note("info", "role", { role: "follower", epoch, leader: leaderId, reason });
  }

  /** Campaign in `epoch` (newer than ours, or ours after a campaign of it that failed). */
  private becomeCandidate(epoch: number, calls: CallId[]): void {
    if (epoch > this.vote.epoch) {
      // One vote write for the new epoch and our vote in it, not two.
      this.vote = { epoch, votedFor: 0 };
      this.becomeFollower(epoch, 0, `campaigning in epoch ${epoch}`);
    }
    assert(this.campaign === undefined && this.role === "follower", "a campaign starts from a follower");
    this.setVote({ epoch, votedFor: this.id });
    this.role = "candidate";
    this.leaderId = 0;
    this.campaign = { epoch, startedAt: this.now, granted: new Set(), askedAt: this.now, calls };
    this.note("info", "role", { role: "candidate", epoch });
    this.askVotes();
    this.countVotes();
  }

  private becomeLeader(): void {
    const campaign = this.campaign;
    assert(campaign !== undefined && campaign.epoch === this.vote.epoch && this.vote.votedFor === this.id, "a leader won its own campaign");
    this.campaign = undefined;
    this.role = "leader";
    this.leaderId = this.id;
    const followers = new Map<number, Progress>();
    for (const id of this.peers) {
      followers.set(id, {
        id,
        next: this.lastNumber + 1,
        match: -1,
        mode: "probe",
        inflight: [],
        sentAt: -Infinity,
        retryAt: this.now,
        retryMs: limits.probeRetryMs,
        diverged: false,
      });
    }
    this.leadership = {
      epoch: campaign.epoch,
      followers,
      queue: [],
      pending: new Map(),
      catalogCall: undefined,
      catalogSynced: false,
      catalogRetryAt: this.now,
      catalogRetryMs: limits.catalogRetryMs,
      committing: new Map(),
      appending: [],
      lastAtElection: this.lastNumber,
      ready: false,
      readyCalls: campaign.calls.map((call) => ({ call, since: this.now })),
    };
    this.note("info", "role", { role: "leader", epoch: campaign.epoch, last: this.lastNumber, votes: [...campaign.granted].join(" ") });
    for (const p of followers.values()) this.sendTo(p);
    this.advanceCommit();
    this.dispatchCatalog();
  }

  private endLeadership(reason: string): void {
    const l = this.leadership;
    if (!l) return;
    this.leadership = undefined;
    const failure: Failure = { code: "NOT_LEADER", message: reason };
    for (const waiters of l.pending.values()) for (const w of waiters) this.fail(w.call, failure);
    for (const waiters of l.committing.values()) for (const w of waiters) this.fail(w.call, failure);
    for (const r of l.readyCalls) this.fail(r.call, { code: "STALE_EPOCH", message: reason });
    this.note("info", "leadership ended", { epoch: l.epoch, reason });
  }

  private endCampaign(failure: Failure): void {
    const c = this.campaign;
    if (!c) return;
    this.campaign = undefined;
    for (const call of c.calls) this.fail(call, failure);
  }

  // --- Elections -------------------------------------------------------------------------

  private onSetLeader(call: CallId, leaderId: number, epoch: number): void {
    if (this.failed !== undefined) return this.fail(call, this.diskFailure());
    if (leaderId !== this.id) {
      return this.fail(call, { code: "INVALID_ARGUMENT", message: `SetLeader goes to the candidate itself (this is replica ${this.id})` });
    }
    if (!Number.isSafeInteger(epoch) || epoch < 1) return this.fail(call, { code: "INVALID_ARGUMENT", message: "epoch must be 1 or more" });
    if (epoch < this.vote.epoch) {
      return this.fail(call, { code: "STALE_EPOCH", message: `epoch ${epoch} is older than this replica's epoch ${this.vote.epoch}` });
    }
    if (epoch === this.vote.epoch) {
      if (this.role === "leader" && this.leadership) {
        if (this.leadership.ready) return this.answerLeading(call);
        this.leadership.readyCalls.push({ call, since: this.now });
        return;
      }
      if (this.role === "candidate" && this.campaign) {
        this.campaign.calls.push(call);
        return;
      }
      if (this.vote.votedFor !== 0 && this.vote.votedFor !== this.id) {
        return this.fail(call, {
          code: "STALE_EPOCH",
          message: `epoch ${epoch}: this replica voted for replica ${this.vote.votedFor}; use a newer epoch`,
        });
      }
      if (this.leaderId !== 0 && this.leaderId !== this.id) {
        return this.fail(call, { code: "STALE_EPOCH", message: `epoch ${epoch} is led by replica ${this.leaderId}; use a newer epoch` });
      }
    }
    this.becomeCandidate(epoch, [call]);
  }

  private answerLeading(call: CallId): void {
    this.reply(call, { ok: true, value: { epoch: this.vote.epoch, lastNumber: this.lastNumber } });
  }

  private askVotes(): void {
    const c = this.campaign;
    if (!c) return;
    c.askedAt = this.now;
    for (const to of this.peers) {
      if (c.granted.has(to)) continue;
      this.out.push({
        kind: "sendVote",
        to,
        request: { epoch: c.epoch, candidateId: this.id, lastNumber: this.lastNumber, lastEpoch: this.lastEpoch },
      });
    }
  }

  /** A majority of durable votes, our own included, makes us leader. */
  private countVotes(): void {
    const c = this.campaign;
    if (!c || this.role !== "candidate") return;
    const selfDurable = this.durableVote.epoch === c.epoch && this.durableVote.votedFor === this.id;
    if ((selfDurable ? 1 : 0) + c.granted.size >= this.majority) this.becomeLeader();
  }

  private onVoteRequest(call: CallId, r: VoteRequest): void {
    if (this.failed !== undefined) return this.fail(call, this.diskFailure());
    if (!this.peers.includes(r.candidateId) || !Number.isSafeInteger(r.epoch) || r.epoch < 1) {
      return this.fail(call, { code: "INVALID_ARGUMENT", message: "a vote request names another replica and an epoch of 1 or more" });
    }
    if (r.epoch > this.vote.epoch) this.becomeFollower(r.epoch, 0, `replica ${r.candidateId} campaigns in epoch ${r.epoch}`);
    const upToDate = logAtLeast(r, { lastEpoch: this.lastEpoch, lastNumber: this.lastNumber });
    const free = this.vote.votedFor === 0 || this.vote.votedFor === r.candidateId;
    if (r.epoch < this.vote.epoch || !free || !upToDate) {
      return this.reply(call, { ok: true, value: { epoch: this.vote.epoch, granted: false } });
    }
    this.setVote({ epoch: r.epoch, votedFor: r.candidateId });
    this.heldGrants.push({ call, vote: this.vote });
    this.releaseHeld();
  }

  private onVoteReply(from: number, reply: VoteReply): void {
    if (reply.epoch > this.vote.epoch) return this.becomeFollower(reply.epoch, 0, `replica ${from} knows epoch ${reply.epoch}`);
    const c = this.campaign;
    if (!c || reply.epoch !== c.epoch || !reply.granted) return;
    c.granted.add(from);
    this.countVotes();
  }

  private setVote(vote: Vote): void {
    this.vote = vote;
    this.out.push({ kind: "persistVote", vote });
  }

  private onVoteDurable(vote: Vote): void {
    assert(vote.epoch >= this.durableVote.epoch, "votes become durable in the order they were written");
    this.durableVote = vote;
    this.releaseHeld();
    this.countVotes();
  }

  // --- Follower side ---------------------------------------------------------------------

  private onAppend(call: CallId, r: AppendRequest): void {
    if (this.failed !== undefined) return this.fail(call, this.diskFailure());
    if (!this.peers.includes(r.leaderId) || !Number.isSafeInteger(r.epoch) || r.epoch < 1) {
      return this.fail(call, { code: "INVALID_ARGUMENT", message: "an Append names another replica as leader and an epoch of 1 or more" });
    }
    if (r.epoch < this.vote.epoch) return this.answerAppend(call, AppendOutcome.APPEND_STALE_EPOCH, -1);
    if (r.epoch > this.vote.epoch || this.role !== "follower" || this.leaderId !== r.leaderId) {
      assert(!(r.epoch === this.vote.epoch && this.role === "leader"), "one leader per epoch");
      this.becomeFollower(r.epoch, r.leaderId, `replica ${r.leaderId} leads epoch ${r.epoch}`);
    }
    const problem = this.appendProblem(r);
    if (problem) return this.fail(call, { code: "INVALID_ARGUMENT", message: problem });
    if (r.prevNumber > this.lastNumber) return this.answerAppend(call, AppendOutcome.APPEND_GAP, -1);
    if (r.prevNumber >= 0 && this.entries[r.prevNumber]?.epoch !== r.prevEpoch) return this.diverged(call, r.prevNumber, r.leaderId);
    const fresh: OrderRecord[] = [];
    for (const o of r.orders) {
      const held = this.entries[o.number];
      if (held !== undefined) {
        if (!sameOrder(held, o)) return this.diverged(call, o.number, r.leaderId);
        continue;
      }
      if (this.numbers.has(o.requestId)) return this.diverged(call, o.number, r.leaderId);
      fresh.push(o);
    }
    this.appendLocal(fresh);
    const match = r.prevNumber + r.orders.length;
    this.commit = Math.max(this.commit, Math.min(r.commitNumber, match));
    this.heldAcks.push({ call, match, epoch: this.vote.epoch });
    this.releaseHeld();
  }

  /** Why an Append's orders cannot extend any log, or undefined. */
  private appendProblem(r: AppendRequest): string | undefined {
    if (!Number.isSafeInteger(r.prevNumber) || r.prevNumber < -1) return "prev_number must be -1 or more";
    if (r.orders.length > limits.appendOrdersMax) return `an Append carries at most ${limits.appendOrdersMax} orders`;
    let epoch = r.prevNumber >= 0 ? r.prevEpoch : 0;
    for (const [i, o] of r.orders.entries()) {
      if (o.number !== r.prevNumber + 1 + i) return `orders are not consecutive after ${r.prevNumber}`;
      const problem = orderProblem(o);
      if (problem) return `order ${o.number}: ${problem}`;
      if (o.epoch < epoch || o.epoch > r.epoch) return `order ${o.number}: epoch ${o.epoch} out of order`;
      epoch = o.epoch;
    }
    return undefined;
  }

  private diverged(call: CallId, at: number, leader: number): void {
    this.note("error", "the leader's log differs from ours: a disk was lost or replaced; refusing (nothing is truncated)", { at, leader });
    this.answerAppend(call, AppendOutcome.APPEND_DIVERGED, -1);
  }

  private answerAppend(call: CallId, outcome: AppendOutcome, match: number): void {
    this.reply(call, { ok: true, value: { outcome, epoch: this.vote.epoch, lastNumber: this.lastNumber, matchNumber: match } });
  }

  /** Release acks and grants whose promises are now durable (log and epoch/vote). */
  private releaseHeld(): void {
    if (this.failed !== undefined) return;
    const ackReady = (a: { match: number; epoch: number }): boolean => a.match <= this.durableLast && this.durableVote.epoch >= a.epoch;
    const acks = this.heldAcks.filter(ackReady);
    this.heldAcks = this.heldAcks.filter((a) => !ackReady(a));
    for (const a of acks) this.answerAppend(a.call, AppendOutcome.APPEND_OK, a.match);
    const grantReady = (g: { vote: Vote }): boolean =>
      this.durableVote.epoch > g.vote.epoch ||
      (this.durableVote.epoch === g.vote.epoch && this.durableVote.votedFor === g.vote.votedFor);
    const grants = this.heldGrants.filter(grantReady);
    this.heldGrants = this.heldGrants.filter((g) => !grantReady(g));
    for (const g of grants) {
      // A vote superseded before it was durable is not granted: the voter moved on.
      const granted = this.durableVote.epoch === g.vote.epoch;
      this.reply(g.call, { ok: true, value: { epoch: this.vote.epoch, granted } });
    }
  }

  // --- Leader side: replication ----------------------------------------------------------

  private appendLocal(orders: readonly OrderRecord[]): void {
    if (orders.length === 0) return;
    for (const o of orders) {
      assert(o.number === this.entries.length, "orders are appended in number order");
      assert(!this.numbers.has(o.requestId), "a request id is numbered once");
      this.entries.push(o);
      this.numbers.set(o.requestId, o.number);
    }
    this.out.push({ kind: "persistLog", orders });
  }

  private onLogDurable(upTo: number): void {
    assert(upTo <= this.lastNumber, "only appended orders become durable");
    this.durableLast = Math.max(this.durableLast, upTo);
    const appending = this.leadership?.appending;
    while (appending && appending.length > 0 && (appending[0] as BatchTiming).upTo <= this.durableLast) {
      (appending.shift() as BatchTiming).durableAt = this.now;
    }
    this.releaseHeld();
    this.advanceCommit();
  }

  /** Send a follower what it lacks, within its mode's bounds. */
  private sendTo(p: Progress): void {
    const l = this.leadership;
    if (!l || p.diverged) return;
    if (p.mode === "probe") {
      if (p.inflight.length > 0 || this.now < p.retryAt) return;
      this.sendAppend(p, Math.min(this.lastNumber, p.next + limits.appendOrdersMax - 1));
      return;
    }
    while (p.next <= this.lastNumber && p.inflight.length < limits.appendsInFlightMax) {
      this.sendAppend(p, Math.min(this.lastNumber, p.next + limits.appendOrdersMax - 1));
    }
  }

  private sendAppend(p: Progress, to: number): void {
    const l = this.leadership;
    assert(l !== undefined, "only a leader appends");
    const prevNumber = p.next - 1;
    const prevEpoch = prevNumber >= 0 ? (this.entries[prevNumber] as OrderRecord).epoch : 0;
    const orders = this.entries.slice(p.next, to + 1);
    this.out.push({
      kind: "sendAppend",
      to: p.id,
      request: { epoch: l.epoch, leaderId: this.id, orders, prevNumber, prevEpoch, commitNumber: this.commit },
    });
    p.inflight.push(this.now);
    p.sentAt = this.now;
    if (p.mode === "replicate") p.next = to + 1;
  }

  private onAppendReply(from: number, reply: AppendReply): void {
    if (reply.epoch > this.vote.epoch) return this.becomeFollower(reply.epoch, 0, `replica ${from} knows epoch ${reply.epoch}`);
    const p = this.leadership?.followers.get(from);
    if (!p || reply.epoch !== this.vote.epoch) return;
    p.inflight.shift();
    switch (reply.outcome) {
      case AppendOutcome.APPEND_OK:
        p.match = Math.max(p.match, reply.matchNumber);
        p.next = Math.max(p.next, p.match + 1);
        p.retryMs = limits.probeRetryMs;
        if (p.mode === "probe") {
          p.mode = "replicate";
          p.inflight = [];
        }
        this.advanceCommit();
        break;
      case AppendOutcome.APPEND_GAP:
        // The follower's log is a prefix of ours (PROTOCOL.md): continue right after its end.
        p.mode = "probe";
        p.inflight = [];
        p.next = Math.max(p.match + 1, Math.min(p.next, reply.lastNumber + 1));
        break;
      case AppendOutcome.APPEND_DIVERGED:
        if (!p.diverged) this.note("error", "follower's log differs from ours: not replicating to it", { follower: from });
        p.diverged = true;
        return;
      default:
        return this.peerFailedBackoff(p);
    }
    this.sendTo(p);
  }

  private onPeerFailed(from: number): void {
    const p = this.leadership?.followers.get(from);
    if (p) {
      this.peerFailedBackoff(p);
      return;
    }
    const c = this.campaign;
    if (c) c.askedAt = Math.min(c.askedAt, this.now - limits.voteRetryMs + limits.probeRetryMs);
  }

  private peerFailedBackoff(p: Progress): void {
    p.mode = "probe";
    p.inflight = [];
    p.next = p.match + 1;
    p.retryAt = this.now + p.retryMs;
    p.retryMs = Math.min(p.retryMs * 2, limits.probeRetryMsMax);
  }

  /** The commit point: the highest number durable on a majority (our own disk counted). */
  private advanceCommit(): void {
    const l = this.leadership;
    if (!l) return;
    const matches = [this.durableLast, ...[...l.followers.values()].map((p) => p.match)].sort((a, b) => b - a);
    const quorum = matches[this.majority - 1] as number;
    if (quorum <= this.commit) return this.checkReady();
    const from = this.commit + 1;
    this.commit = quorum;
    for (let n = from; n <= quorum; n++) {
      const waiters = l.committing.get(n);
      if (!waiters) continue;
      l.committing.delete(n);
      for (const w of waiters) this.answerNumbered(w, n);
    }
    this.checkReady();
    this.dispatchCatalog();
  }

  private checkReady(): void {
    const l = this.leadership;
    if (!l || l.ready || this.commit < l.lastAtElection) return;
    l.ready = true;
    this.note("info", "leading", { epoch: l.epoch, last: this.lastNumber, commit: this.commit });
    for (const r of l.readyCalls) this.answerLeading(r.call);
    l.readyCalls = [];
  }

  // --- Leader side: orders and the catalog -----------------------------------------------

  private onPlace(orders: readonly PlaceInput[]): void {
    const l = this.leadership;
    for (const { call, request, traceId } of orders) {
      const problem = placeProblem(request);
      if (problem) {
        this.reply(call, { ok: true, value: { status: PlaceStatus.PLACE_INVALID, number: 0, message: problem } });
        continue;
      }
      const refusal = this.servingRefusal();
      if (refusal || !l) {
        this.fail(call, refusal ?? { code: "NOT_LEADER", message: "not leader" });
        continue;
      }
      const waiter: Waiter = { call, request, traceId: traceId ?? "", since: this.now, batch: undefined };
      const known = this.numbers.get(request.requestId);
      if (known !== undefined) {
        this.awaitCommit(waiter, known);
        continue;
      }
      const pending = l.pending.get(request.requestId);
      if (pending) {
        pending.push(waiter);
        continue;
      }
      if (l.queue.length >= limits.placeQueueMax) {
        this.fail(call, { code: "OVERLOADED", message: "too many orders waiting; retry later" });
        continue;
      }
      l.pending.set(request.requestId, [waiter]);
      l.queue.push(waiter);
    }
    this.dispatchCatalog();
  }

  /** Why this replica cannot serve Place and Get now (not leader, not ready, disk failed), or undefined. */
  servingRefusal(): Failure | undefined {
    if (this.failed !== undefined) return this.diskFailure();
    if (this.role !== "leader") return { code: "NOT_LEADER", message: `not leader (leader is ${this.leaderId || "unknown"})` };
    if (!this.leadership?.ready) return { code: "NOT_READY", message: "establishing leadership; retry shortly" };
    return undefined;
  }

  private awaitCommit(w: Waiter, number: number): void {
    const l = this.leadership;
    assert(l !== undefined, "only a leader numbers orders");
    if (number <= this.commit) return this.answerNumbered(w, number);
    const list = l.committing.get(number);
    if (list) list.push(w);
    else l.committing.set(number, [w]);
  }

  /** Answer a caller whose request id holds `number` (committed); a reused id with another order is refused. */
  private answerNumbered(w: Waiter, number: number): void {
    const held = this.entries[number] as OrderRecord;
    const r = w.request;
    const same = held.name === r.name && held.side === r.side && held.quantity === r.quantity;
    const value: PlaceReply = same
      ? { status: PlaceStatus.PLACE_OK, number, message: "" }
      : { status: PlaceStatus.PLACE_INVALID, number: 0, message: `request_id already used by order ${number} for a different order` };
    const timing = same && w.batch !== undefined ? this.timingOf(w, w.batch) : undefined;
    this.reply(w.call, { ok: true, value }, timing);
  }

  /** Where an order's time went, answered now (it is committed). */
  private timingOf(w: Waiter, b: BatchTiming): PlaceTiming {
    return {
      leaderBatchMs: Math.max(0, b.sentAt - w.since),
      catalogMs: b.repliedAt - b.sentAt,
      catalogFsyncMs: b.catalogFsyncMs,
      replicateMs: this.now - b.repliedAt,
      fsyncMs: b.durableAt === undefined ? -1 : b.durableAt - b.repliedAt,
    };
  }

  /** Send the next TradeBatch when none is in flight: queued orders, or an empty one to sync. */
  private dispatchCatalog(): void {
    const l = this.leadership;
    if (!l || this.role !== "leader" || l.catalogCall || this.failed !== undefined) return;
    if (!l.catalogSynced && this.now < l.catalogRetryAt) return;
    const room = Math.min(tradeBatchMax, uncommittedOrdersMax - (this.lastNumber - this.commit));
    const batch: Waiter[] = [];
    while (batch.length < room && l.queue.length > 0) {
      const w = l.queue.shift() as Waiter;
      const known = this.numbers.get(w.request.requestId);
      if (known === undefined) {
        batch.push(w);
        continue;
      }
      // Numbered meanwhile (adopted from the catalog): every waiter for it waits for the commit.
      for (const other of l.pending.get(w.request.requestId) ?? []) this.awaitCommit(other, known);
      l.pending.delete(w.request.requestId);
    }
    if (batch.length === 0 && l.catalogSynced) return;
    const id = ++this.catalogCalls;
    l.catalogCall = { id, batch, sentAt: this.now };
    const trades = batch.map((w) => ({
      requestId: w.request.requestId,
      name: w.request.name,
      quantity: w.request.quantity,
      side: w.request.side === OrderSide.ORDER_SIDE_BUY ? Side.SIDE_BUY : Side.SIDE_SELL,
    }));
    this.out.push({
      kind: "callCatalog",
      call: id,
      request: { trades, epoch: l.epoch, leaderId: this.id, afterNumber: this.lastNumber, commitNumber: this.commit },
    });
  }

  private onCatalogReply(call: number, reply: TradeBatchReply): void {
    const l = this.leadership;
    if (!l || l.catalogCall?.id !== call) return;
    const { batch, sentAt } = l.catalogCall;
    l.catalogCall = undefined;
    if (reply.missing.length > 0) {
      this.adopt(reply.missing);
      l.queue.unshift(...batch);
      // The catalog hands back a page at a time: ask again at once while it holds more.
      l.catalogSynced = reply.lastNumber <= this.lastNumber;
      l.catalogRetryAt = this.now;
      return this.dispatchCatalog();
    }
    if (reply.results.length !== batch.length) {
      this.note("error", "the catalog answered a batch with the wrong number of results", {
        trades: batch.length,
        results: reply.results.length,
      });
      return this.catalogUnknown(batch, "the catalog answered a malformed batch");
    }
    l.catalogSynced = true;
    l.catalogRetryMs = limits.catalogRetryMs;
    const numbered: OrderRecord[] = [];
    for (const [i, w] of batch.entries()) {
      const result = reply.results[i] as TradeReply;
      const waiters = l.pending.get(w.request.requestId) ?? [w];
      if (result.status !== TradeStatus.TRADE_OK) {
        l.pending.delete(w.request.requestId);
        const status = placeStatusOf[result.status] ?? PlaceStatus.PLACE_INVALID;
        for (const x of waiters) this.reply(x.call, { ok: true, value: { status, number: 0, message: result.message } });
        continue;
      }
      const number = this.lastNumber + 1 + numbered.length;
      assert(result.number === number, "the catalog numbers a batch's trades right after the leader's log");
      const { requestId, name, side, quantity } = w.request;
      numbered.push({ number, epoch: l.epoch, requestId, name, side, quantity });
    }
    this.appendLocal(numbered);
    const last = numbered[numbered.length - 1];
    const timing: BatchTiming | undefined = last
      ? { sentAt, repliedAt: this.now, catalogFsyncMs: reply.durableMs, upTo: last.number, durableAt: undefined }
      : undefined;
    if (timing) l.appending.push(timing);
    for (const o of numbered) {
      const waiters = l.pending.get(o.requestId) ?? [];
      l.pending.delete(o.requestId);
      for (const w of waiters) {
        w.batch = timing;
        this.awaitCommit(w, o.number);
      }
    }
    for (const p of l.followers.values()) this.sendTo(p);
    this.dispatchCatalog();
  }

  /** Trades the catalog numbered that our log lacks (a previous leader's last batches): take them as they are. */
  private adopt(trades: readonly SequencedTrade[]): void {
    const orders = trades.map(orderOfSequenced);
    for (const [i, o] of orders.entries()) {
      assert(o.number === this.lastNumber + 1 + i, "adopted trades continue the leader's log");
      assert(orderProblem(o) === undefined, "the catalog hands back well-formed trades");
    }
    this.note("info", "adopting trades the catalog numbered after our log", { from: orders[0]?.number ?? -1, count: orders.length });
    this.appendLocal(orders);
    const l = this.leadership as Leadership;
    for (const p of l.followers.values()) this.sendTo(p);
  }

  private onCatalogFailed(call: number, refusal: CatalogRefusal | undefined, message: string): void {
    const l = this.leadership;
    if (!l || l.catalogCall?.id !== call) return;
    const { batch } = l.catalogCall;
    l.catalogCall = undefined;
    if (refusal === "stale") {
      l.queue.unshift(...batch);
      return this.becomeFollower(this.vote.epoch, 0, `the catalog knows a newer epoch (${message})`);
    }
    if (refusal === "window") {
      l.queue.unshift(...batch);
      l.catalogRetryAt = this.now + l.catalogRetryMs;
      return;
    }
    if (refusal !== undefined) this.note("error", "the catalog refused a batch", { refusal, message });
    this.catalogUnknown(batch, `catalog unavailable: ${message}`);
  }

  /** The batch's outcome is unknown: its callers retry (same request ids); the next call re-syncs positionally. */
  private catalogUnknown(batch: readonly Waiter[], message: string): void {
    const l = this.leadership as Leadership;
    l.catalogSynced = false;
    l.catalogRetryAt = this.now + l.catalogRetryMs;
    l.catalogRetryMs = Math.min(l.catalogRetryMs * 2, limits.catalogRetryMsMax);
    for (const w of batch) {
      for (const x of l.pending.get(w.request.requestId) ?? []) this.fail(x.call, { code: "UNAVAILABLE", message });
      l.pending.delete(w.request.requestId);
    }
  }

  private onGet(call: CallId, number: number): void {
    const refusal = this.servingRefusal();
    if (refusal) return this.fail(call, refusal);
    if (!Number.isSafeInteger(number) || number < 0) {
      return this.fail(call, { code: "INVALID_ARGUMENT", message: "number must be a non-negative integer" });
    }
    if (number > this.commit) return this.fail(call, { code: "NOT_FOUND", message: `order ${number} not found` });
    this.reply(call, { ok: true, value: this.entries[number] as OrderRecord });
  }

  // --- Time and failures -----------------------------------------------------------------

  private onTick(): void {
    const c = this.campaign;
    if (c && this.role === "candidate") {
      if (this.now - c.startedAt >= limits.campaignTimeoutMs) {
        this.note("warn", "campaign failed: no majority voted in time", { epoch: c.epoch, votes: c.granted.size });
        this.endCampaign({ code: "UNAVAILABLE", message: `no majority voted for replica ${this.id} in epoch ${c.epoch}` });
        this.role = "follower";
      } else if (this.now - c.askedAt >= limits.voteRetryMs) {
        this.askVotes();
      }
    }
    const l = this.leadership;
    if (!l) return;
    for (const p of l.followers.values()) {
      if (p.inflight.length > 0 && this.now - (p.inflight[0] as number) >= limits.appendTimeoutMs) this.peerFailedBackoff(p);
      if (p.mode === "replicate" && p.inflight.length === 0 && this.now - p.sentAt >= limits.heartbeatMs) this.sendAppend(p, p.next - 1);
      else this.sendTo(p);
    }
    if (l.catalogCall && this.now - l.catalogCall.sentAt >= limits.catalogTimeoutMs) {
      const { batch } = l.catalogCall;
      l.catalogCall = undefined;
      this.catalogUnknown(batch, "catalog did not answer in time");
    }
    this.expireWaiters(l);
    this.dispatchCatalog();
  }

  /** Callers are answered within a bound even when no majority or catalog answers. */
  private expireWaiters(l: Leadership): void {
    const old = (w: { since: number }): boolean => this.now - w.since >= limits.placeWaitMsMax;
    const traces: string[] = [];
    for (const [n, waiters] of l.committing) {
      const expired = waiters.filter(old);
      if (expired.length === 0) continue;
      for (const w of expired) {
        traces.push(w.traceId);
        this.fail(w.call, { code: "UNAVAILABLE", message: `order ${n} is not on a majority yet; retry` });
      }
      const left = waiters.filter((w) => !old(w));
      if (left.length > 0) l.committing.set(n, left);
      else l.committing.delete(n);
    }
    const queuedExpired = l.queue.filter(old);
    if (queuedExpired.length > 0) {
      l.queue = l.queue.filter((w) => !old(w));
      for (const w of queuedExpired) {
        for (const x of l.pending.get(w.request.requestId) ?? []) {
          traces.push(x.traceId);
          this.fail(x.call, { code: "UNAVAILABLE", message: "the catalog did not take the order in time; retry" });
        }
        l.pending.delete(w.request.requestId);
      }
    }
    if (traces.length > 0) {
      // One line per sweep, naming a few of the orders by their frontend request id.
      this.note("warn", "orders not committed in time; their callers retry", {
        orders: traces.length,
        trace_ids: traces.filter((t) => t !== "").slice(0, limits.traceIdsLoggedMax).join(" "),
      });
    }
    const readyExpired = l.readyCalls.filter((r) => this.now - r.since >= limits.leaderReadyWaitMs);
    if (readyExpired.length > 0) {
      l.readyCalls = l.readyCalls.filter((r) => this.now - r.since < limits.leaderReadyWaitMs);
      for (const r of readyExpired) {
        this.fail(r.call, { code: "NOT_READY", message: "elected, but this replica's log is not on a majority yet" });
      }
    }
  }

  private onDiskFailed(message: string): void {
    if (this.failed !== undefined) return;
    this.failed = message;
    this.note("error", "the disk failed: acknowledging nothing more until restarted", { error: message });
    const failure = this.diskFailure();
    this.endLeadership(failure.message);
    this.endCampaign(failure);
    this.role = "follower";
    for (const a of this.heldAcks) this.fail(a.call, failure);
    for (const g of this.heldGrants) this.fail(g.call, failure);
    this.heldAcks = [];
    this.heldGrants = [];
  }

  private diskFailure(): Failure {
    return { code: "UNAVAILABLE", message: `storage failed, acknowledging nothing: ${this.failed ?? "unknown"}` };
  }

  /** `timing` only for a placed order answered with its own catalog call (the action has no key otherwise). */
  private reply(call: CallId, result: CallResult, timing?: PlaceTiming): void {
    this.out.push(timing ? { kind: "reply", call, result, timing } : { kind: "reply", call, result });
  }

  private fail(call: CallId, error: Failure): void {
    this.reply(call, { ok: false, error });
  }

  private note(level: "info" | "warn" | "error", message: string, fields: Record<string, string | number>): void {
    this.out.push({ kind: "log", level, message, fields });
  }
}

const placeStatusOf: Partial<Record<TradeStatus, PlaceStatus>> = {
  [TradeStatus.TRADE_INSUFFICIENT_QUANTITY]: PlaceStatus.PLACE_INSUFFICIENT_QUANTITY,
  [TradeStatus.TRADE_UNKNOWN_STOCK]: PlaceStatus.PLACE_UNKNOWN_STOCK,
  [TradeStatus.TRADE_INVALID]: PlaceStatus.PLACE_INVALID,
};
