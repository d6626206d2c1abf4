// One order replica, transport-free: the handlers behind every Order RPC. It feeds requests to
// the decision logic (replica.ts), carries the decisions out on the log (order_log.ts) under
// the log lock, runs recovery at start and the catch-up before leading (recovery.ts), and owns
// the Leader pipeline (leader.ts, followers.ts) while it leads. server.ts puts gRPC in front;
// the unit tests call it directly, wired to in-process peers.

import { assert } from "../lib/assert.ts";
import type { Logger } from "../lib/log.ts";
import type {
  AppendReply, AppendRequest, GetRequest, HealthReply, OrderRecord, PlaceBatchReply, PlaceBatchRequest, PlaceReply, PlaceRequest, SetLeaderReply,
  SetLeaderRequest, SinceReply, SinceRequest,
} from "../gen/order.ts";
import { PlaceStatus } from "../gen/order.ts";
import { OrderError } from "./errors.ts";
import { placeBatchMax } from "./limits.ts";
import { Followers } from "./followers.ts";
import { Leader } from "./leader.ts";
import { Mutex } from "./mutex.ts";
import type { OrderLog } from "./order_log.ts";
import type { CatalogPort, PeerPort } from "./ports.ts";
import { pullForLeadership, recoverAtStart } from "./recovery.ts";
import type { PullContext } from "./recovery.ts";
import { ReplicaState, sincePage } from "./replica.ts";
import type { Persist } from "./replica.ts";

export type NodeDeps = {
  readonly id: number;
  /** Every replica id of ORDER_REPLICAS, this one included. */
  readonly ids: readonly number[];
  readonly log: OrderLog;
  readonly catalog: CatalogPort;
  readonly peers: readonly PeerPort[];
  readonly logger: Logger;
  /** The log could not be written: the replica must stop (default: exit 1). */
  readonly onFatal?: (err: unknown) => void;
};

export class OrderNode {
  readonly state: ReplicaState;
  readonly log: OrderLog;
  private readonly deps: NodeDeps;
  private readonly lock = new Mutex();
  private readonly pull: PullContext;
  private leader: Leader | undefined;
  /** The catch-up of the latest leadership; SetLeader(self) waits for it. */
  private leading: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  private stopped = false;
  /** Role/epoch/leader last written to the log context, to log each change once. */
  private roleLogged = "";

  constructor(deps: NodeDeps) {
    assert(deps.peers.every((p) => p.id !== deps.id && deps.ids.includes(p.id)), "peers are the other replicas");
    this.deps = deps;
    this.log = deps.log;
    this.state = new ReplicaState(deps.id, deps.ids);
    this.pull = { state: this.state, log: deps.log, lock: this.lock, peers: deps.peers, logger: deps.logger, persist: (d) => this.persist(d) };
    this.logRole();
  }

  /** Start-up recovery: pull what the peers hold beyond our log, then report ready. */
  recover(): Promise<void> {
    this.recovering ??= recoverAtStart(this.pull).then(() => {
      this.state.markRecovered();
      this.deps.logger.info("recovered", { last: this.log.lastNumber, ready: this.state.ready });
    });
    return this.recovering;
  }

  health(): HealthReply {
    const s = this.state;
    const liveFollowers = s.role === "leader" && this.leader ? this.leader.liveFollowers() : [];
    return { id: s.id, lastNumber: this.log.lastNumber, epoch: s.epoch, leaderId: s.leaderId, ready: s.ready, liveFollowers };
  }

  async place(request: PlaceRequest): Promise<PlaceReply> {
    return this.servingLeader().place(request);
  }

  /**
   * Several Places in one call. A leader that is not serving fails the whole call (the caller
   * re-selects); an order that fails on its own answers PLACE_RETRY so only it is retried.
   */
  async placeBatch(request: PlaceBatchRequest): Promise<PlaceBatchReply> {
    if (request.orders.length > placeBatchMax) {
      throw new OrderError("INVALID_ARGUMENT", `a PlaceBatch holds at most ${placeBatchMax} orders`);
    }
    const leader = this.servingLeader();
    const results = await Promise.all(request.orders.map((order) => leader.place(order).catch((err: unknown) => {
      if (!(err instanceof OrderError)) throw err;
      return { status: PlaceStatus.PLACE_RETRY, number: 0, message: err.message };
    })));
    return { results };
  }

  async get(request: GetRequest): Promise<OrderRecord> {
    this.servingLeader();
    if (!Number.isSafeInteger(request.number) || request.number < 0) throw new OrderError("INVALID_ARGUMENT", "number must be a non-negative integer");
    const order = this.log.at(request.number);
    if (!order) throw new OrderError("NOT_FOUND", `order ${request.number} not found`);
    return order;
  }

  async setLeader(request: SetLeaderRequest): Promise<SetLeaderReply> {
    const decision = this.state.handleSetLeader(request.leaderId, request.epoch);
    if (decision.kind === "refuse") throw new OrderError(decision.code, decision.message);
    if (decision.endsLeadership) this.endLeadership(`SetLeader(${request.leaderId}, epoch ${request.epoch})`);
    if (decision.fresh) this.logRole();
    if (decision.kind === "lead") {
      if (decision.fresh) this.leading = this.lead(decision.epoch);
      assert(this.leading !== undefined, "a leadership has its catch-up");
      await this.leading;
      if (!this.state.leads(decision.epoch)) throw new OrderError("STALE_EPOCH", `leadership of epoch ${decision.epoch} was superseded`);
    }
    return { epoch: this.state.epoch, lastNumber: this.log.lastNumber };
  }

  append(request: AppendRequest): Promise<AppendReply> {
    return this.lock.run(async () => {
      const decision = this.state.handleAppend(request, this.log);
      if (decision.endsLeadership) this.endLeadership(`Append from replica ${request.leaderId} in epoch ${request.epoch}`);
      if (decision.endsLeadership || this.roleLogged !== this.roleKey()) this.logRole();
      if (decision.kind === "refuse") throw new OrderError(decision.code, decision.message);
      await this.persist(decision);
      return { lastNumber: this.log.lastNumber };
    });
  }

  async since(request: SinceRequest): Promise<SinceReply> {
    const page = sincePage(this.log, request.afterNumber, request.limit);
    if (!Array.isArray(page)) throw new OrderError(page.code, page.message);
    return { orders: page, lastNumber: this.log.lastNumber };
  }

  /** Graceful stop: no more batches, wait for log mutations, close the file and the clients. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.endLeadership("shutting down");
    await this.lock.run(() => this.log.close());
    this.deps.catalog.close();
    for (const p of this.deps.peers) p.close();
  }

  private servingLeader(): Leader {
    if (this.state.role !== "leader") throw new OrderError("NOT_LEADER", `not leader (leader is ${this.state.leaderId || "unknown"})`);
    if (!this.state.ready || !this.leader) throw new OrderError("NOT_READY", "catching up before leading; retry shortly");
    return this.leader;
  }

  /** Pull from peers, bring the followers up to our log, then serve (SetLeader answers then). */
  private async lead(epoch: number): Promise<void> {
    await this.recover();
    const current = (): boolean => this.state.leads(epoch) && !this.stopped;
    if (!current()) return;
    await pullForLeadership(this.pull, current);
    if (!current()) return;
    const { id, logger } = this.deps;
    const followers = new Followers(this.deps.peers, {
      id, epoch, log: this.log, lock: this.lock, logger, isCurrent: current,
      onNewerEpoch: (follower, reason) => this.stepDown(epoch, follower, reason),
    });
    this.leader = new Leader({
      id, epoch, log: this.log, lock: this.lock, catalog: this.deps.catalog, followers, logger, isCurrent: current,
      appendLocal: (records) => this.appendDurably(records),
    });
    await followers.establish();
    if (!current()) return;
    this.state.markLeaderReady(epoch);
    logger.info("leading", { last: this.log.lastNumber, ...followers.summary() });
  }

  private stepDown(epoch: number, follower: number, reason: string): void {
    if (!this.state.leads(epoch)) return;
    this.deps.logger.warn("stepping down: a follower knows a newer epoch", { follower, reason });
    this.state.stepDown();
    this.endLeadership("a newer epoch exists");
    this.logRole();
  }

  private endLeadership(reason: string): void {
    if (!this.leader) return;
    this.deps.logger.info("ending leadership", { reason });
    this.leader.stop();
    this.leader = undefined;
  }

  /** Carry out a reconcile decision. Runs under the log lock. */
  private async persist(decision: Persist): Promise<void> {
    // A pull or an Append still running when stop() closed the log: refuse, do not crash.
    if (this.stopped) throw new OrderError("UNAVAILABLE", "shutting down");
    if (decision.truncateFrom !== undefined) {
      assert(!this.state.serving, "a serving leader's log is never truncated");
      const dropped = this.log.slice(decision.truncateFrom, this.log.lastNumber + 1);
      this.deps.logger.warn("dropping divergent orders (never acknowledged)", {
        from: decision.truncateFrom, count: dropped.length, request_ids: dropped.map((o) => o.requestId).join(" "),
      });
      await this.fatalOnFailure(this.log.truncateFrom(decision.truncateFrom));
    }
    if (decision.orders.length > 0) await this.appendDurably(decision.orders);
  }

  private appendDurably(records: readonly OrderRecord[]): Promise<void> {
    return this.fatalOnFailure(this.log.append(records));
  }

  // After a failed write or fsync the file's state is unknown: stop the replica rather than
  // acknowledge orders that may not be on disk. Recovery at the next start sorts it out.
  private async fatalOnFailure(work: Promise<void>): Promise<void> {
    try {
      await work;
    } catch (err) {
      this.deps.logger.error("order log write failed; stopping", { error: String(err) });
      (this.deps.onFatal ?? (() => process.exit(1)))(err);
      throw err;
    }
  }

  private roleKey(): string {
    return `${this.state.role}/${this.state.epoch}/${this.state.leaderId}`;
  }

  private logRole(): void {
    const s = this.state;
    this.roleLogged = this.roleKey();
    this.deps.logger.set({ role: s.role, epoch: s.epoch });
    this.deps.logger.info("role", { leader: s.leaderId, ready: s.ready });
  }
}
