// One order replica's IO around its protocol core (core.ts): it feeds the core every request,
// reply, disk completion and a tick, with the time, and carries out the actions the core
// returns — appends to the log file, writes of the vote file, calls to the peers and the
// catalog, answers to callers. It decides nothing; server.ts puts gRPC in front of it.

import { assert } from "../lib/assert.ts";
import type { Logger } from "../lib/log.ts";
import type {
  AppendReply,
  AppendRequest,
  GetRequest,
  HealthReply,
  OrderRecord,
  PlaceBatchReply,
  PlaceBatchRequest,
  PlaceReply,
  PlaceTiming,
  SetLeaderReply,
  SetLeaderRequest,
  VoteReply,
  VoteRequest,
} from "../gen/order.ts";
import { PlaceStatus } from "../gen/order.ts";
import type { CatalogPort, PeerPort } from "./clients.ts";
import { errorText } from "../lib/grpc.ts";
import { catalogRefusal } from "./clients.ts";
import { ReplicaCore } from "./core.ts";
import type { Action, CallId, CallResult, Input, Vote } from "./core.ts";
import { OrderError } from "./errors.ts";
import { placeBatchMax } from "../lib/protocol.ts";
import { appendTimeoutMs, catalogTimeoutMs, tickMs, voteTimeoutMs } from "./limits.ts";
import type { OrderLog } from "./order_log.ts";

export type ShellDeps = {
  readonly id: number;
  /** Every replica id of ORDER_REPLICAS, this one included. */
  readonly ids: readonly number[];
  readonly log: OrderLog;
  readonly vote: Vote;
  /** Writes the vote durably (vote_file.ts); rejects when it could not. */
  readonly writeVote: (vote: Vote) => Promise<void>;
  readonly catalog: CatalogPort;
  readonly peers: readonly PeerPort[];
  readonly logger: Logger;
  /** Milliseconds from a monotonic origin; tests pass their own. */
  readonly now?: () => number;
};

type Answer = { readonly result: CallResult; readonly timing: PlaceTiming | undefined };
type Waiting = { readonly resolve: (answer: Answer) => void };

/** The timing of an order answered without a catalog call of its own (PlaceTiming's doc). */
const unmeasured: PlaceTiming = { leaderBatchMs: 0, catalogMs: 0, catalogFsyncMs: 0, replicateMs: 0, fsyncMs: 0 };

export class ReplicaShell {
  readonly core: ReplicaCore;
  private readonly deps: ShellDeps;
  private readonly now: () => number;
  private readonly calls = new Map<CallId, Waiting>();
  private nextCall = 1;
  private readonly peers: Map<number, PeerPort>;
  private voteWrites: Promise<void> = Promise.resolve();
  private ticker: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(deps: ShellDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => performance.now());
    this.peers = new Map(deps.peers.map((p) => [p.id, p]));
    assert(deps.peers.every((p) => p.id !== deps.id && deps.ids.includes(p.id)), "peers are the other replicas");
    this.core = new ReplicaCore({ id: deps.id, ids: deps.ids, log: deps.log.loaded, vote: deps.vote, now: this.now() });
    deps.logger.set({ role: this.core.role, epoch: this.core.epoch });
  }

  /** Start the core's clock (heartbeats, retries, deadlines). */
  start(): void {
    this.ticker ??= setInterval(() => this.step({ kind: "tick" }), tickMs);
    this.ticker.unref?.();
  }

  health(): HealthReply {
    return this.core.health();
  }

  /**
   * Several Places in one call. A replica that is not the serving leader refuses the whole call
   * (the caller re-selects); an order that fails on its own answers PLACE_RETRY, so only it is
   * retried (with the same request id).
   */
  async placeBatch(request: PlaceBatchRequest): Promise<PlaceBatchReply> {
    if (request.orders.length > placeBatchMax) {
      throw new OrderError("INVALID_ARGUMENT", `a PlaceBatch holds at most ${placeBatchMax} orders`);
    }
    this.refuseUnlessServing();
    const orders = request.orders.map((order, i) => ({ call: this.nextCall++, request: order, traceId: request.traceIds[i] ?? "" }));
    const answers = orders.map((o) => this.await(o.call));
    this.step({ kind: "place", orders });
    const settled = await Promise.all(answers);
    return {
      results: settled.map(({ result: r }) =>
        r.ok ? r.value as PlaceReply : { status: PlaceStatus.PLACE_RETRY, number: 0, message: r.error.message }
      ),
      timings: settled.map((a) => a.timing ?? unmeasured),
    };
  }

  async place(order: PlaceBatchRequest["orders"][number]): Promise<PlaceReply> {
    this.refuseUnlessServing();
    return this.call((call) => ({ kind: "place", orders: [{ call, request: order }] })) as Promise<PlaceReply>;
  }

  get(request: GetRequest): Promise<OrderRecord> {
    return this.call((call) => ({ kind: "get", call, number: request.number })) as Promise<OrderRecord>;
  }

  setLeader(request: SetLeaderRequest): Promise<SetLeaderReply> {
    return this.call((call) => ({ kind: "setLeader", call, leaderId: request.leaderId, epoch: request.epoch })) as Promise<SetLeaderReply>;
  }

  requestVote(request: VoteRequest): Promise<VoteReply> {
    return this.call((call) => ({ kind: "voteRequest", call, request })) as Promise<VoteReply>;
  }

  append(request: AppendRequest): Promise<AppendReply> {
    return this.call((call) => ({ kind: "append", call, request })) as Promise<AppendReply>;
  }

  /** Graceful stop: no more ticks or steps; callers still waiting get UNAVAILABLE; the log is closed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const w of this.calls.values()) {
      w.resolve({ result: { ok: false, error: { code: "UNAVAILABLE", message: "shutting down" } }, timing: undefined });
    }
    this.calls.clear();
    await this.voteWrites;
    await this.deps.log.close();
    this.deps.catalog.close();
    for (const p of this.deps.peers) p.close();
  }

  /** The core's own rule, before any order is handed to it: a whole call is refused at once. */
  private refuseUnlessServing(): void {
    const refusal = this.core.servingRefusal();
    if (refusal) throw new OrderError(refusal.code, refusal.message);
  }

  private await(call: CallId): Promise<Answer> {
    return new Promise((resolve) => this.calls.set(call, { resolve }));
  }

  /** One input that answers one caller; the core's failure becomes an OrderError. */
  private async call(input: (call: CallId) => Input): Promise<unknown> {
    if (this.stopped) throw new OrderError("UNAVAILABLE", "shutting down");
    const call = this.nextCall++;
    const result = this.await(call);
    this.step(input(call));
    const { result: r } = await result;
    if (!r.ok) throw new OrderError(r.error.code, r.error.message);
    return r.value;
  }

  private step(input: Input): void {
    if (this.stopped) return;
    const { role, epoch } = this.core;
    const actions = this.core.step(input, this.now());
    if (this.core.role !== role || this.core.epoch !== epoch) this.deps.logger.set({ role: this.core.role, epoch: this.core.epoch });
    for (const action of actions) this.act(action);
  }

  private act(a: Action): void {
    switch (a.kind) {
      case "persistLog": {
        const upTo = (a.orders[a.orders.length - 1] as OrderRecord).number;
        this.deps.log.append(a.orders).then(
          () => this.step({ kind: "logDurable", upTo }),
          (err: unknown) => this.step({ kind: "diskFailed", message: errorText(err) }),
        );
        return;
      }
      case "persistVote":
        // One vote write at a time, in order: the core relies on them becoming durable in order.
        this.voteWrites = this.voteWrites.then(() => this.deps.writeVote(a.vote)).then(
          () => this.step({ kind: "voteDurable", vote: a.vote }),
          (err: unknown) => this.step({ kind: "diskFailed", message: errorText(err) }),
        );
        return;
      case "sendVote":
        this.peer(a.to).requestVote(a.request, voteTimeoutMs).then(
          (reply) => this.step({ kind: "voteReply", from: a.to, reply }),
          () => this.step({ kind: "peerFailed", from: a.to }),
        );
        return;
      case "sendAppend":
        this.peer(a.to).append(a.request, appendTimeoutMs).then(
          (reply) => this.step({ kind: "appendReply", from: a.to, reply }),
          () => this.step({ kind: "peerFailed", from: a.to }),
        );
        return;
      case "callCatalog":
        this.deps.catalog.tradeBatch(a.request, catalogTimeoutMs).then(
          (reply) => this.step({ kind: "catalogReply", call: a.call, reply }),
          (err: unknown) => this.step({ kind: "catalogFailed", call: a.call, refusal: catalogRefusal(err), message: errorText(err) }),
        );
        return;
      case "reply": {
        const waiting = this.calls.get(a.call);
        if (!waiting) return; // stopped meanwhile
        this.calls.delete(a.call);
        waiting.resolve({ result: a.result, timing: a.timing });
        return;
      }
      case "log":
        // Role changes are always written; a warning or error can repeat every tick or batch.
        if (a.level === "info") this.deps.logger.info(a.message, a.fields);
        else this.deps.logger.limited(a.level, a.message, a.fields);
        return;
    }
  }

  private peer(id: number): PeerPort {
    const p = this.peers.get(id);
    assert(p !== undefined, "the core sends only to configured peers");
    return p;
  }
}
