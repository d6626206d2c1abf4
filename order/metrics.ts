// An order replica's Prometheus metrics (served on METRICS_PORT): role, epoch and log position
// read from the shell's Health when scraped; each follower's replication lag from what it last
// acknowledged, seen at the boundary of its PeerPort (so neither the core nor the shell
// changes). The fsync histogram and the runtime's metrics come from lib/metrics.ts.

import { AppendOutcome } from "../gen/order.ts";
import type { HealthReply } from "../gen/order.ts";
import { counterFrom, flag, gaugeFrom } from "../lib/metrics.ts";
import type { Registry, Sample } from "../lib/metrics.ts";
import type { PeerPort } from "./clients.ts";
import type { OrderLog } from "./order_log.ts";
import type { CatchUp } from "./server.ts";
import { replicaServing } from "./server.ts";
import type { ReplicaShell } from "./shell.ts";

const roles = ["leader", "candidate", "follower"] as const;

/** The highest number each follower acknowledged as durable and matching (APPEND_OK). */
export class FollowerMatches {
  private readonly matched = new Map<number, number>();

  /** `peer`, with each OK answer to an Append noted. Logs are never truncated, so the highest stays true. */
  watch(peer: PeerPort): PeerPort {
    return {
      id: peer.id,
      append: (request, timeoutMs) =>
        peer.append(request, timeoutMs).then((reply) => {
          if (reply.outcome === AppendOutcome.APPEND_OK) this.matched.set(peer.id, Math.max(this.matchOf(peer.id), reply.matchNumber));
          return reply;
        }),
      requestVote: (request, timeoutMs) => peer.requestVote(request, timeoutMs),
      close: () => peer.close(),
    };
  }

  /** -1 when the follower never acknowledged anything to this replica. */
  matchOf(id: number): number {
    return this.matched.get(id) ?? -1;
  }
}

export type OrderMetricsDeps = {
  readonly shell: ReplicaShell;
  readonly log: OrderLog;
  readonly catchUp: CatchUp;
  readonly followers: FollowerMatches;
  readonly peerIds: readonly number[];
};

export function registerOrderMetrics(registry: Registry, deps: OrderMetricsDeps): void {
  const { shell, log, catchUp, followers, peerIds } = deps;
  const health = () => shell.health();
  // Only a leader has followers: on any other role these metrics have no series. One health
  // reading serves every follower's sample.
  const perFollower = (value: (h: HealthReply, id: number) => number): Sample[] => {
    const h = health();
    return h.role === "leader" ? peerIds.map((id) => ({ labels: { follower: String(id) }, value: value(h, id) })) : [];
  };

  gaugeFrom(registry, { name: "order_role", help: "1 for this replica's role, 0 for the others.", labelNames: ["role"] }, () => {
    const role = health().role;
    return roles.map((r) => ({ labels: { role: r }, value: flag(r === role) }));
  });
  gaugeFrom(registry, {
    name: "order_serving",
    help: "1 while grpc.health.v1 reports SERVING: ready, and as a follower not catching up.",
  }, () => flag(replicaServing(health(), catchUp)));
  gaugeFrom(registry, {
    name: "order_disk_failed",
    help: "1 once a log or vote write failed: nothing is acknowledged until a restart.",
  }, () => flag(shell.core.failed !== undefined));
  gaugeFrom(registry, { name: "order_epoch", help: "The newest epoch this replica knows (durable)." }, () => health().epoch);
  gaugeFrom(
    registry,
    { name: "order_leader_id", help: "The leader of the current epoch as this replica knows it (0: unknown)." },
    () => health().leaderId,
  );
  gaugeFrom(
    registry,
    { name: "order_last_number", help: "The last order number in this replica's log (-1: empty)." },
    () => health().lastNumber,
  );
  gaugeFrom(
    registry,
    { name: "order_commit_number", help: "Orders up to this number are known to be on a majority (-1: none)." },
    () => health().commitNumber,
  );
  counterFrom(
    registry,
    { name: "order_log_fsyncs_total", help: "Order log fdatasync calls since start (group commit)." },
    () => log.flushes,
  );
  gaugeFrom(registry, {
    name: "order_catch_up_behind_entries",
    help: "On a follower: committed orders (by the leader's last commit point) its log still lacks; 0 when caught up.",
  }, () => catchUp.behind(health()));
  gaugeFrom(registry, {
    name: "order_replication_lag_entries",
    help: "On the leader: orders in its log that each follower has not acknowledged yet.",
    labelNames: ["follower"],
  }, () => perFollower((h, id) => h.lastNumber - followers.matchOf(id)));
  gaugeFrom(registry, {
    name: "order_follower_live",
    help: "On the leader: 1 for a follower whose log matches up to the commit point (HealthReply.live_followers).",
    labelNames: ["follower"],
  }, () => perFollower((h, id) => flag(h.liveFollowers.includes(id))));
}
