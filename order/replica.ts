// The replication decisions of one order replica, with no IO and no timers (etcd-raft style):
// messages in (SetLeader, Append, a page pulled from a peer, the peers' Health at start),
// decisions out (adopt, refuse, persist these orders, truncate from here). Roles change only
// through the named transitions. Transport is server.ts and ports.ts, the disk is
// order_log.ts; node.ts carries the decisions out.
//
// Rules (protos/PROTOCOL.md, plus the divergence rule): a replica accepts SetLeader and Append
// from its epoch or a newer one, one leader per epoch. Orders already held must be identical;
// when the current leader's log disagrees, the follower's tail from the first difference was
// never acknowledged (the leader pulled from every live peer before serving), and it is
// dropped, up to divergenceOrdersMax orders (one deposed leader's batch). Anything longer is
// refused as DIVERGED: dropping it could lose acknowledged orders.

import { assert } from "../lib/assert.ts";
import type { HealthReply, OrderRecord } from "../gen/order.ts";
import type { OrderErrorCode } from "./errors.ts";
import { divergenceOrdersMax, sincePageMax } from "./limits.ts";
import { orderProblem, sameOrder } from "./order_log.ts";

export type Role = "follower" | "leader";

/** What the decisions read of the log. */
export type LogView = {
  readonly lastNumber: number;
  at(number: number): OrderRecord | undefined;
  numberOf(requestId: string): number | undefined;
};

export type Refusal = { readonly kind: "refuse"; readonly code: OrderErrorCode; readonly message: string };
/** Drop orders from `truncateFrom` (when set), then append `orders` (possibly none). */
export type Persist = { readonly kind: "persist"; readonly truncateFrom: number | undefined; readonly orders: readonly OrderRecord[] };
/**
 * "follow": the source is the current leader (or the peer recovery trusts most); a divergent
 * tail of ours is dropped. "extend": only orders after ours are taken; on any disagreement the
 * source is refused and our log wins (a new leader pulling from peers).
 */
export type ReconcileMode = "follow" | "extend";

export type SetLeaderDecision =
  | Refusal
  /** `fresh`: a new leadership (catch up first); otherwise a repeat of the current one. */
  | { readonly kind: "lead"; readonly epoch: number; readonly fresh: boolean; readonly endsLeadership: boolean }
  | { readonly kind: "follow"; readonly epoch: number; readonly fresh: boolean; readonly endsLeadership: boolean };

export type AppendDecision = (Refusal | Persist) & { readonly endsLeadership: boolean };

export type AppendInput = { readonly epoch: number; readonly leaderId: number; readonly orders: readonly OrderRecord[] };

export type PeerHealth = { readonly id: number; readonly health: HealthReply };
export type RecoveryPlan = {
  /** Epoch and leader to adopt before pulling (leader 0: none known). */
  readonly epoch: number;
  readonly leaderId: number;
  /** Peers to pull from, in order. */
  readonly sources: readonly { readonly id: number; readonly mode: ReconcileMode }[];
};

function refuse(code: OrderErrorCode, message: string): Refusal {
  return { kind: "refuse", code, message };
}

/** Decide what to do with consecutive orders from a peer (see ReconcileMode). */
export function reconcile(log: LogView, orders: readonly OrderRecord[], mode: ReconcileMode): Persist | Refusal {
  if (orders.length === 0) return { kind: "persist", truncateFrom: undefined, orders: [] };
  const first = (orders[0] as OrderRecord).number;
  for (const [i, o] of orders.entries()) {
    if (o.number !== first + i) return refuse("INVALID_ARGUMENT", `orders are not consecutive at ${o.number}`);
    const problem = orderProblem(o);
    if (problem) return refuse("INVALID_ARGUMENT", `order ${o.number}: ${problem}`);
  }
  const last = log.lastNumber;
  if (first > last + 1) return refuse("GAP", `orders start at ${first} but the last held is ${last}; last_number=${last}`);
  let mismatch: number | undefined;
  for (const o of orders) {
    if (o.number > last) break;
    if (!sameOrder(o, log.at(o.number) as OrderRecord)) {
      mismatch = o.number;
      break;
    }
  }
  let truncateFrom: number | undefined;
  if (mismatch !== undefined) {
    if (mode === "extend") return refuse("DIVERGED", `order ${mismatch} differs from ours`);
    const dropped = last - mismatch + 1;
    if (dropped > divergenceOrdersMax) {
      return refuse("DIVERGED", `order ${mismatch} differs and ${dropped} orders would be dropped (at most ${divergenceOrdersMax})`);
    }
    truncateFrom = mismatch;
  }
  const keptLast = truncateFrom === undefined ? last : truncateFrom - 1;
  const fresh = orders.slice(Math.max(0, keptLast + 1 - first));
  const seen = new Set<string>();
  for (const o of fresh) {
    const held = log.numberOf(o.requestId);
    if (held !== undefined && held <= keptLast) return refuse("DIVERGED", `request_id of order ${o.number} is already order ${held}`);
    if (seen.has(o.requestId)) return refuse("INVALID_ARGUMENT", `request_id of order ${o.number} repeats`);
    seen.add(o.requestId);
  }
  return { kind: "persist", truncateFrom, orders: fresh };
}

/** Where a leader starts sending to a follower: re-send the range a divergence can occupy. */
export function catchUpStart(followerLast: number, leaderLast: number): number {
  return Math.max(0, Math.min(followerLast, leaderLast) + 1 - divergenceOrdersMax);
}

/** `after_number` of the first Since a puller asks for: the same overlap, from the other side. */
export function pullStart(ownLast: number): number {
  return Math.max(-1, ownLast - divergenceOrdersMax);
}

/** Orders a Since(after, limit) answers with, or a refusal of a malformed request. */
export function sincePage(log: LogView & { slice(from: number, to: number): OrderRecord[] }, after: number, limit: number): OrderRecord[] | Refusal {
  if (!Number.isSafeInteger(after) || after < -1) return refuse("INVALID_ARGUMENT", "after_number must be -1 or more");
  if (!Number.isSafeInteger(limit) || limit < 0) return refuse("INVALID_ARGUMENT", "limit must be 0 (default) or more");
  const count = limit === 0 ? sincePageMax : Math.min(limit, sincePageMax);
  return log.slice(after + 1, after + 1 + count);
}

/**
 * Whom to pull from at start: adopt the newest epoch the peers know; if its leader answers,
 * follow it (it is authoritative), then extend from the others, longest log first.
 */
export function planRecovery(selfId: number, peers: readonly PeerHealth[]): RecoveryPlan {
  const epoch = Math.max(0, ...peers.map((p) => p.health.epoch));
  const claimed = peers.find((p) => p.health.epoch === epoch && p.health.leaderId !== 0)?.health.leaderId ?? 0;
  const leaderId = claimed === selfId ? 0 : claimed;
  const leader = peers.find((p) => p.id === leaderId && p.health.epoch === epoch && p.health.leaderId === leaderId);
  const others = peers.filter((p) => p !== leader)
    .sort((a, b) => b.health.epoch - a.health.epoch || b.health.lastNumber - a.health.lastNumber);
  const sources = [
    ...(leader ? [{ id: leader.id, mode: "follow" as const }] : []),
    ...others.map((p) => ({ id: p.id, mode: "extend" as const })),
  ];
  return { epoch, leaderId, sources };
}

export class ReplicaState {
  readonly id: number;
  private readonly ids: ReadonlySet<number>;
  epoch = 0;
  /** 0 while no leader is known. */
  leaderId = 0;
  role: Role = "follower";
  /** The start-up recovery (pull from peers) is done. */
  recovered = false;
  /** As leader: the catch-up of this leadership is done; Place may be served. */
  leaderReady = false;

  constructor(id: number, ids: Iterable<number>) {
    this.id = id;
    this.ids = new Set(ids);
    assert(this.ids.has(id), "a replica is one of the configured replicas");
  }

  /** Health's `ready`: recovered, and as leader also caught up. A not-ready replica must not lead. */
  get ready(): boolean {
    return this.recovered && (this.role === "follower" || this.leaderReady);
  }

  get serving(): boolean {
    return this.role === "leader" && this.ready;
  }

  handleSetLeader(leaderId: number, epoch: number): SetLeaderDecision {
    if (!Number.isSafeInteger(epoch) || epoch < 1) return refuse("INVALID_ARGUMENT", "epoch must be 1 or more");
    if (!this.ids.has(leaderId)) return refuse("INVALID_ARGUMENT", `leader_id ${leaderId} is not in ORDER_REPLICAS`);
    if (epoch < this.epoch) return refuse("STALE_EPOCH", `epoch ${epoch} is older than this replica's epoch ${this.epoch}`);
    const kind = leaderId === this.id ? "lead" : "follow";
    if (epoch === this.epoch && leaderId === this.leaderId) return { kind, epoch, fresh: false, endsLeadership: false };
    if (epoch === this.epoch && this.leaderId !== 0) {
      return refuse("STALE_EPOCH", `epoch ${epoch} is already led by replica ${this.leaderId}; use a newer epoch`);
    }
    const endsLeadership = this.role === "leader";
    if (kind === "lead") this.becomeLeader(epoch);
    else this.becomeFollower(leaderId, epoch);
    return { kind, epoch, fresh: true, endsLeadership };
  }

  handleAppend(input: AppendInput, log: LogView): AppendDecision {
    const keep = { endsLeadership: false };
    if (!Number.isSafeInteger(input.epoch) || input.epoch < 1) return { ...refuse("INVALID_ARGUMENT", "epoch must be 1 or more"), ...keep };
    if (!this.ids.has(input.leaderId) || input.leaderId === this.id) {
      return { ...refuse("INVALID_ARGUMENT", `leader_id ${input.leaderId} is not another replica`), ...keep };
    }
    if (input.epoch < this.epoch) {
      return { ...refuse("STALE_EPOCH", `epoch ${input.epoch} is older than this replica's epoch ${this.epoch}`), ...keep };
    }
    let endsLeadership = false;
    if (input.epoch > this.epoch) {
      // A leader of a newer epoch exists (this replica may have missed its SetLeader): adopt it.
      endsLeadership = this.role === "leader";
      this.becomeFollower(input.leaderId, input.epoch);
    } else if (this.role === "leader" || (this.leaderId !== 0 && this.leaderId !== input.leaderId)) {
      return { ...refuse("STALE_EPOCH", `epoch ${input.epoch} is led by replica ${this.leaderId}`), ...keep };
    } else if (this.leaderId === 0) {
      this.becomeFollower(input.leaderId, input.epoch);
    }
    return { ...reconcile(log, input.orders, "follow"), endsLeadership };
  }

  /** Recovery found a newer epoch among the peers. */
  adopt(plan: RecoveryPlan): void {
    if (plan.epoch > this.epoch) this.becomeFollower(plan.leaderId, plan.epoch);
  }

  becomeLeader(epoch: number): void {
    assert(epoch >= this.epoch, "epochs never go back");
    this.role = "leader";
    this.epoch = epoch;
    this.leaderId = this.id;
    this.leaderReady = false;
  }

  /** `leaderId` 0: the leader of `epoch` is not known yet. */
  becomeFollower(leaderId: number, epoch: number): void {
    assert(epoch >= this.epoch, "epochs never go back");
    assert(leaderId !== this.id, "a follower follows another replica");
    this.role = "follower";
    this.epoch = epoch;
    this.leaderId = leaderId;
    this.leaderReady = false;
  }

  /** A follower refused this leader's epoch: a newer leader exists, whose id is not known. */
  stepDown(): void {
    this.becomeFollower(0, this.epoch);
  }

  markRecovered(): void {
    this.recovered = true;
  }

  markLeaderReady(epoch: number): void {
    assert(this.role === "leader" && this.epoch === epoch, "only the current leadership becomes ready");
    this.leaderReady = true;
  }

  /** True while this replica leads `epoch` (a batch started in it may still answer). */
  leads(epoch: number): boolean {
    return this.role === "leader" && this.epoch === epoch;
  }
}
