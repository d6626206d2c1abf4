// Chooses the order leader, as SPEC section 5 describes: the highest-id replica that answers a
// health check leads, with an epoch above any epoch a replica has seen. Concurrent requests
// that find the leader failing share one selection (single flight).
//
// SetLeader goes to the followers first and to the new leader last: a follower that accepted
// the new epoch refuses the old leader's appends, so by the time the new leader pulls the
// followers' logs (it catches up before serving) no old-epoch append can land after it.

import type { Replica } from "../lib/config.ts";
import { formatHostPort } from "../lib/config.ts";
import { callUnary, channelOptions, grpc } from "../lib/grpc.ts";
import type { Logger } from "../lib/log.ts";
import { OrderClient } from "../gen/order.ts";
import type { HealthReply, PlaceBatchReply, PlaceBatchRequest } from "../gen/order.ts";
import { StreamCaller } from "../lib/stream_calls.ts";
import { healthTimeoutMs, setLeaderTimeoutMs } from "./limits.ts";
import { unavailable } from "./errors.ts";

export type ReplicaHandle = {
  readonly id: number;
  readonly addr: string;
  readonly client: OrderClient;
  /** PlaceBatch as calls on one long-lived stream (the hot path; lib/stream_calls.ts). */
  readonly placeBatches: StreamCaller<PlaceBatchRequest, PlaceBatchReply>;
};

export type ReplicaStatus = {
  id: number; addr: string; up: boolean; ready: boolean; lastNumber: number; epoch: number; leaderId: number;
  /** On the leader: followers that receive every order synchronously. */
  liveFollowers: number[];
};

export class LeaderSelector {
  private readonly replicas: ReplicaHandle[];
  private readonly log: Logger;
  private leader: ReplicaHandle | undefined;
  private epoch = 0;
  private selecting: Promise<ReplicaHandle> | undefined;
  /** Number of completed selections; /health shows it. */
  elections = 0;

  constructor(replicas: readonly Replica[], log: Logger) {
    this.log = log;
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
   * leadership away from `failed`, its result is reused instead of electing again.
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

  /** Health of every replica, for /health and for selection. */
  async statuses(): Promise<ReplicaStatus[]> {
    const replies = await Promise.all(this.replicas.map((r) => this.health(r)));
    return this.replicas.map((r, i) => {
      const h = replies[i];
      return {
        id: r.id, addr: r.addr, up: h !== undefined, ready: h?.ready ?? false,
        lastNumber: h?.lastNumber ?? -1, epoch: h?.epoch ?? 0, leaderId: h?.leaderId ?? 0, liveFollowers: h?.liveFollowers ?? [],
      };
    });
  }

  /** True when `r` answers its health check as the ready leader of the current epoch. */
  async stillLeading(r: ReplicaHandle): Promise<boolean> {
    const h = await this.health(r);
    return h !== undefined && h.ready && h.leaderId === r.id && h.epoch === this.epoch && this.leader === r;
  }

  private health(r: ReplicaHandle): Promise<HealthReply | undefined> {
    return callUnary(r.client, r.client.health, {}, healthTimeoutMs).catch(() => undefined);
  }

  private async select(): Promise<ReplicaHandle> {
    const replies = await Promise.all(this.replicas.map((r) => this.health(r)));
    let epoch = Math.max(this.epoch, ...replies.map((h) => h?.epoch ?? 0));
    for (const [i, candidate] of this.replicas.entries()) {
      if (replies[i] === undefined) continue;
      // A fresh epoch for every candidate: replicas refuse a second leader in an epoch they
      // have already seen, even if that leader's SetLeader failed half way.
      epoch++;
      const others = this.replicas.filter((r) => r !== candidate);
      // Followers first (see the file comment); a follower that is down is simply skipped.
      await Promise.all(others.map((r) => this.setLeader(r, candidate.id, epoch).catch(() => undefined)));
      try {
        await this.setLeader(candidate, candidate.id, epoch);
      } catch (err) {
        this.log.warn("leader candidate refused or failed SetLeader", { candidate: candidate.id, error: String(err) });
        continue;
      }
      this.leader = candidate;
      this.epoch = epoch;
      this.elections++;
      this.log.info("leader selected", { leader: candidate.id, epoch });
      return candidate;
    }
    this.log.warn("no order replica answers; cannot select a leader");
    throw unavailable("no order replica reachable");
  }

  private setLeader(r: ReplicaHandle, leaderId: number, epoch: number): Promise<unknown> {
    return callUnary(r.client, r.client.setLeader, { leaderId, epoch }, setLeaderTimeoutMs);
  }

  close(): void {
    for (const r of this.replicas) {
      r.placeBatches.close();
      r.client.close();
    }
  }
}
