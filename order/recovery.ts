// Pulling orders from peers with Since, in pages, each under a deadline; a peer that is down
// or slow is skipped. Used twice:
// - at start (recoverAtStart): ask every peer's Health, adopt the newest epoch, follow its
//   leader's log (dropping a divergent tail of ours, see replica.ts), then extend from the
//   others, and only then serve;
// - when becoming leader (pullForLeadership): extend from every live peer, longest log
//   first, so every order a follower acknowledged to the previous leader is kept.
// Each page is reconciled and persisted under the log lock, so concurrent Appends interleave
// safely. The decisions are replica.ts's; this module does the IO.

import type { Logger } from "../lib/log.ts";
import type { OrderRecord } from "../gen/order.ts";
import { OrderError } from "./errors.ts";
import { peerHealthTimeoutMs, sincePageMax, sinceTimeoutMs } from "./limits.ts";
import type { Mutex } from "./mutex.ts";
import type { OrderLog } from "./order_log.ts";
import type { PeerPort } from "./ports.ts";
import { errorText } from "./ports.ts";
import { planRecovery, pullStart, reconcile } from "./replica.ts";
import type { PeerHealth, Persist, ReconcileMode, ReplicaState } from "./replica.ts";

export type PullContext = {
  readonly state: ReplicaState;
  readonly log: OrderLog;
  readonly lock: Mutex;
  readonly peers: readonly PeerPort[];
  readonly logger: Logger;
  /** Carry out a Persist decision (truncate, append). */
  readonly persist: (decision: Persist) => Promise<void>;
};

/** A pull restarts from the overlap when the log changed under it; this bounds the restarts. */
const pullRestartsMax = 3;

/** Health of every peer that answers in time. */
export async function peerHealths(peers: readonly PeerPort[]): Promise<PeerHealth[]> {
  const replies = await Promise.all(peers.map((p) => p.health(peerHealthTimeoutMs).then((health) => ({ id: p.id, health }), () => undefined)));
  return replies.filter((r) => r !== undefined);
}

export async function recoverAtStart(ctx: PullContext): Promise<void> {
  const healths = await peerHealths(ctx.peers);
  const plan = planRecovery(ctx.state.id, healths);
  ctx.state.adopt(plan);
  ctx.logger.set({ epoch: ctx.state.epoch });
  ctx.logger.info("recovering", {
    last: ctx.log.lastNumber, peers: healths.map((h) => `${h.id}:${h.health.lastNumber}`).join(" ") || "none",
    leader: plan.leaderId, sources: plan.sources.map((s) => `${s.id}:${s.mode}`).join(" ") || "none",
  });
  for (const source of plan.sources) {
    const peer = ctx.peers.find((p) => p.id === source.id);
    if (peer) await pullFrom(ctx, peer, source.mode, () => true);
  }
}

/** Before serving as leader of `epoch`: take every order a live peer holds beyond ours. */
export async function pullForLeadership(ctx: PullContext, stillWanted: () => boolean): Promise<void> {
  const healths = await peerHealths(ctx.peers);
  healths.sort((a, b) => b.health.lastNumber - a.health.lastNumber);
  for (const h of healths) {
    const peer = ctx.peers.find((p) => p.id === h.id);
    if (peer && stillWanted()) await pullFrom(ctx, peer, "extend", stillWanted);
  }
}

/** Pull pages from one peer until it has nothing more; failures end this peer's pull. */
export async function pullFrom(ctx: PullContext, peer: PeerPort, mode: ReconcileMode, stillWanted: () => boolean): Promise<void> {
  const before = ctx.log.lastNumber;
  let after = pullStart(before);
  for (let restarts = 0; stillWanted();) {
    let orders: OrderRecord[];
    let peerLast: number;
    try {
      const reply = await peer.since({ afterNumber: after, limit: sincePageMax }, sinceTimeoutMs);
      orders = reply.orders;
      peerLast = reply.lastNumber;
    } catch (err) {
      ctx.logger.warn("peer skipped: Since failed", { peer: peer.id, error: errorText(err) });
      return;
    }
    if (orders.length === 0) break;
    const refusal = await ctx.lock.run(() => applyPage(ctx, orders, mode));
    if (refusal?.code === "GAP" && restarts < pullRestartsMax) {
      // Our log shrank under us (a concurrent Append dropped a divergent tail): start over.
      restarts++;
      after = pullStart(ctx.log.lastNumber);
      continue;
    }
    if (refusal) {
      ctx.logger.warn("peer skipped: its orders disagree with ours", { peer: peer.id, mode, error: refusal.message });
      return;
    }
    after = (orders[orders.length - 1] as OrderRecord).number;
    if (after >= peerLast) break;
  }
  ctx.logger.info("pulled from peer", { peer: peer.id, mode, from: before, last: ctx.log.lastNumber });
}

async function applyPage(ctx: PullContext, orders: readonly OrderRecord[], mode: ReconcileMode): Promise<OrderError | undefined> {
  const decision = reconcile(ctx.log, orders, mode);
  if (decision.kind === "refuse") return new OrderError(decision.code, decision.message);
  try {
    await ctx.persist(decision);
  } catch (err) {
    if (err instanceof OrderError) return err; // shutting down
    throw err;
  }
  return undefined;
}
