// Finds the order leader for this frontend: reads every replica's Health, lets the pure decision
// in lib/leader_choice.ts say what to do (adopt the ready leader, wait for one establishing, ask
// one candidate to campaign, or nothing yet), and acts on it until leaderSelectBudgetMs runs out.
//
// SetLeader goes to the candidate alone, which wins its peers' votes (protos/order.proto); safety
// is the replicas' business, not this file's. A live ready leader is adopted as it is, so
// frontends that start, stop or reselect never start an election over it. Concurrent requests
// that find the leader failing share one selection (single flight).

import type { Replica } from "../lib/config.ts";
import { formatHostPort } from "../lib/config.ts";
import { assert } from "../lib/assert.ts";
import { callUnary, channelOptions, errorText, grpc } from "../lib/grpc.ts";
import { sleep } from "../lib/sleep.ts";
import { chooseLeader } from "../lib/leader_choice.ts";
import type { ReplicaView } from "../lib/leader_choice.ts";
import type { Logger } from "../lib/log.ts";
import { OrderClient } from "../gen/order.ts";
import type { HealthReply, PlaceBatchReply, PlaceBatchRequest, SetLeaderReply, SetLeaderRequest } from "../gen/order.ts";
import { StreamCaller } from "../lib/stream_calls.ts";
import {
  healthTimeoutMs,
  leaderEstablishPollMs,
  leaderEstablishWaitMs,
  leaderRetryBackoffMsMax,
  leaderRetryBackoffMsMin,
  leaderSelectBudgetMs,
  leaderWarnIntervalMs,
  setLeaderTimeoutMs,
} from "./limits.ts";
import { unavailable } from "./errors.ts";

export type ReplicaHandle = {
  readonly id: number;
  readonly addr: string;
  readonly client: OrderClient;
  /** PlaceBatch as calls on one long-lived stream (the hot path; lib/stream_calls.ts). */
  readonly placeBatches: StreamCaller<PlaceBatchRequest, PlaceBatchReply>;
};

/** One replica as its Health answered (`up: false` when it did not); /health shows these. */
export type ReplicaStatus = ReplicaView & {
  readonly addr: string;
  /** Orders numbered up to this are on a majority (-1: none known, or down). */
  readonly commitNumber: number;
  /** On the leader: followers whose log matches the leader's up to its commit point. */
  readonly liveFollowers: readonly number[];
};

export type LeaderSelectorOptions = {
  /** One selection's deadline; leaderSelectBudgetMs by default. */
  readonly selectBudgetMs?: number;
  /** Patience with an establishing leader or candidate; leaderEstablishWaitMs by default. */
  readonly establishWaitMs?: number;
};

/** A leader or candidate seen establishing, since when (to know when patience runs out). */
type Establishing = { readonly id: number; readonly epoch: number; readonly sinceMs: number };

export class LeaderSelector {
  private readonly replicas: ReplicaHandle[];
  private readonly log: Logger;
  private readonly selectBudgetMs: number;
  private readonly establishWaitMs: number;
  private leader: ReplicaHandle | undefined;
  /** The epoch `leader` leads. */
  private epoch = 0;
  /** The newest epoch any Health answer or election showed; a new election's epoch is above it. */
  private knownEpoch = 0;
  /** The last leader logged, so a change is logged once and a re-adoption not at all. */
  private announced: { readonly id: number; readonly epoch: number } | undefined;
  private selecting: Promise<ReplicaHandle> | undefined;
  /** SetLeader calls that succeeded (elections this frontend asked for); /health shows it. */
  elections = 0;

  constructor(replicas: readonly Replica[], log: Logger, options: LeaderSelectorOptions = {}) {
    this.log = log;
    this.selectBudgetMs = positiveMs(options.selectBudgetMs, "selectBudgetMs", leaderSelectBudgetMs);
    this.establishWaitMs = positiveMs(options.establishWaitMs, "establishWaitMs", leaderEstablishWaitMs);
    assert(new Set(replicas.map((r) => r.id)).size === replicas.length, "replica ids are unique (the config checks it)");
    this.replicas = [...replicas].sort((a, b) => b.id - a.id).map((r) => {
      const client = new OrderClient(formatHostPort(r.addr), grpc.credentials.createInsecure(), channelOptions);
      return { id: r.id, addr: formatHostPort(r.addr), client, placeBatches: new StreamCaller(() => client.placeBatches()) };
    });
  }

  leaderId(): number | undefined {
    return this.leader?.id;
  }

  currentEpoch(): number {
    return this.epoch;
  }

  /** The current leader, selecting one first if there is none. */
  current(): Promise<ReplicaHandle> {
    return this.leader ? Promise.resolve(this.leader) : this.reselect(undefined);
  }

  /**
   * Re-run selection because `failed` did not answer. If another request already moved the
   * leadership away from `failed`, its result is reused instead of selecting again.
   */
  reselect(failed: ReplicaHandle | undefined): Promise<ReplicaHandle> {
    if (this.leader && failed && this.leader !== failed) return Promise.resolve(this.leader);
    if (this.leader === failed) this.leader = undefined;
    if (!this.selecting) {
      this.selecting = this.select().finally(() => {
        this.selecting = undefined;
      });
    }
    return this.selecting;
  }

  /**
   * /health found no ready leader: select one in the background (joining a selection already
   * running), so a frontend becomes ready without waiting for an order to need a leader — an
   * orchestrator that routes by /health would otherwise never send it that order.
   */
  refresh(): void {
    this.reselect(this.leader).catch(() => undefined);
  }

  /** Health of every replica, for /health and for selection. */
  async statuses(timeoutMs: number = healthTimeoutMs): Promise<ReplicaStatus[]> {
    const replies = await Promise.all(this.replicas.map((r) => this.health(r, timeoutMs)));
    return this.replicas.map((r, i) => statusOf(r, replies[i]));
  }

  /** True when `r` answers its Health as the ready leader of this selector's epoch or a newer one. */
  async stillLeading(r: ReplicaHandle): Promise<boolean> {
    const h = await this.health(r, healthTimeoutMs);
    return h !== undefined && h.ready && h.role === "leader" && h.leaderId === r.id && h.epoch >= this.epoch;
  }

  /** Health rounds until a leader is adopted or elected, or the budget is spent (503). */
  private async select(): Promise<ReplicaHandle> {
    const deadlineMs = Date.now() + this.selectBudgetMs;
    const remainingMs = (): number => deadlineMs - Date.now();
    let establishing: Establishing | undefined;
    let backoffMs = leaderRetryBackoffMsMin;
    let reason = "no Health round finished in time";
    while (remainingMs() > 0) {
      const views = await this.statuses(Math.min(healthTimeoutMs, remainingMs()));
      const patienceOver = establishing && Date.now() - establishing.sinceMs > this.establishWaitMs ? establishing : undefined;
      const choice = chooseLeader(views, this.replicas.length, this.knownEpoch, patienceOver);
      if (choice.kind === "adopt") return this.becomeLeader(this.handle(choice.id), choice.epoch, "adopted");
      if (remainingMs() <= 0) break;
      if (choice.kind === "wait") {
        if (establishing?.id !== choice.id || establishing.epoch !== choice.epoch) {
          establishing = { id: choice.id, epoch: choice.epoch, sinceMs: Date.now() };
        }
        reason = `replica ${choice.id} is still establishing epoch ${choice.epoch}`;
        await sleep(Math.max(0, Math.min(leaderEstablishPollMs, remainingMs())));
        continue;
      }
      establishing = undefined;
      if (choice.kind === "elect") {
        const elected = await this.elect(this.handle(choice.id), choice.epoch, remainingMs());
        if (typeof elected !== "string") return elected;
        reason = elected;
      } else {
        reason = choice.reason;
        this.log.limited("warn", "no order leader can be chosen yet", { reason }, leaderWarnIntervalMs);
      }
      await sleep(Math.max(0, Math.min(backoffMs, remainingMs())));
      backoffMs = Math.min(backoffMs * 2, leaderRetryBackoffMsMax);
    }
    this.log.debug("leader selection gave up", { budgetMs: this.selectBudgetMs, reason });
    throw unavailable(`no order leader within ${this.selectBudgetMs} ms: ${reason}`);
  }

  /** Ask `candidate` to campaign for `epoch`: the leader once it answers, or why it did not. */
  private async elect(candidate: ReplicaHandle, epoch: number, timeoutMs: number): Promise<ReplicaHandle | string> {
    let reply: SetLeaderReply;
    try {
      reply = await callUnary<SetLeaderRequest, SetLeaderReply>(
        candidate.client,
        candidate.client.setLeader,
        { leaderId: candidate.id, epoch },
        Math.min(setLeaderTimeoutMs, timeoutMs),
      );
    } catch (err) {
      const error = errorText(err);
      this.log.limited(
        "warn",
        "leader candidate refused or failed SetLeader",
        { candidate: candidate.id, epoch, error },
        leaderWarnIntervalMs,
      );
      return `replica ${candidate.id} did not become leader of epoch ${epoch} (${error})`;
    }
    this.elections++;
    return this.becomeLeader(candidate, Math.max(epoch, reply.epoch), "elected");
  }

  private becomeLeader(leader: ReplicaHandle, epoch: number, how: "adopted" | "elected"): ReplicaHandle {
    this.leader = leader;
    this.epoch = epoch;
    this.knownEpoch = Math.max(this.knownEpoch, epoch);
    if (this.announced?.id !== leader.id || this.announced.epoch !== epoch) {
      this.log.info("order leader changed", { leader: leader.id, epoch, how, previous: this.announced?.id });
      this.announced = { id: leader.id, epoch };
    }
    return leader;
  }

  private handle(id: number): ReplicaHandle {
    const r = this.replicas.find((c) => c.id === id);
    assert(r !== undefined, `chooseLeader picks a configured replica (got ${id})`);
    return r;
  }

  /** Health of `r`, or undefined when it does not answer or answers as another replica. */
  private async health(r: ReplicaHandle, timeoutMs: number): Promise<HealthReply | undefined> {
    const h = await callUnary<object, HealthReply>(r.client, r.client.health, {}, timeoutMs).catch(() => undefined);
    if (h === undefined) return undefined;
    if (h.id === r.id) {
      this.knownEpoch = Math.max(this.knownEpoch, h.epoch);
      return h;
    }
    // A misconfigured address: believing this reply could adopt or elect the wrong process.
    this.log.limited(
      "warn",
      "order replica answers Health with another id; treated as down",
      { replica: r.id, addr: r.addr, answered: h.id },
      leaderWarnIntervalMs,
    );
    return undefined;
  }

  close(): void {
    for (const r of this.replicas) {
      r.placeBatches.close();
      r.client.close();
    }
  }
}

function statusOf(r: ReplicaHandle, h: HealthReply | undefined): ReplicaStatus {
  if (h === undefined) {
    return {
      id: r.id,
      addr: r.addr,
      up: false,
      ready: false,
      role: "",
      epoch: 0,
      leaderId: 0,
      lastNumber: -1,
      lastEpoch: 0,
      commitNumber: -1,
      liveFollowers: [],
    };
  }
  return {
    id: r.id,
    addr: r.addr,
    up: true,
    ready: h.ready,
    role: h.role,
    epoch: h.epoch,
    leaderId: h.leaderId,
    lastNumber: h.lastNumber,
    lastEpoch: h.lastEpoch,
    commitNumber: h.commitNumber,
    liveFollowers: h.liveFollowers,
  };
}

function positiveMs(value: number | undefined, name: string, fallback: number): number {
  const ms = value ?? fallback;
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new RangeError(`Cannot create LeaderSelector: ${name} must be a positive integer of milliseconds (got ${ms})`);
  }
  return ms;
}
