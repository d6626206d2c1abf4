// GET /health: the state of every dependency as this frontend sees it, each order replica with
// its role, epochs and log position (ReplicaStatus). The frontend can serve trades when the
// catalog answers and the selected leader answers as the ready leader; when it does not, a
// selection starts in the background, so the next probe can pass without an order arriving first.

import { callUnary } from "../lib/grpc.ts";
import type { CatalogClient } from "../gen/catalog.ts";
import type { CatalogHealthReply } from "../gen/catalog.ts";
import type { LeaderSelector } from "./leader_selector.ts";
import type { OrderGateway } from "./order_gateway.ts";
import { healthTimeoutMs } from "./limits.ts";

export type HealthDeps = {
  readonly catalog: CatalogClient;
  readonly leaders: LeaderSelector;
  readonly orders: OrderGateway;
  readonly cacheStats: () => Promise<unknown>;
  readonly connections: () => number;
};

export function createHealth(deps: HealthDeps): () => Promise<{ ok: boolean; body: unknown }> {
  return async () => {
    const [catalog, replicas, cache] = await Promise.all([
      callUnary<object, CatalogHealthReply>(deps.catalog, deps.catalog.health, {}, healthTimeoutMs).then(
        (h) => ({ up: true, stocks: h.stocks, subscribers: h.subscribers, tradesApplied: h.tradesApplied }),
        (err: unknown) => ({ up: false, error: String(err) }),
      ),
      deps.leaders.statuses(),
      deps.cacheStats().catch((err: unknown) => ({ error: String(err) })),
    ]);
    const leaderId = deps.leaders.leaderId() ?? null;
    const leader = replicas.find((r) => r.id === leaderId);
    const leaderReady = leader !== undefined && leader.up && leader.ready && leader.role === "leader";
    // Selection failures are the selector's to log (rate-limited); the next probe sees the result.
    if (!leaderReady) deps.leaders.refresh();
    const ok = catalog.up && leaderReady;
    return {
      ok,
      body: {
        status: ok ? "ok" : "degraded",
        catalog,
        leader: leaderId,
        epoch: deps.leaders.currentEpoch(),
        elections: deps.leaders.elections,
        orderRetries: deps.orders.retries,
        placeBatches: { calls: deps.orders.batcher.calls, orders: deps.orders.batcher.orders },
        replicas,
        cache,
        connections: deps.connections(),
      },
    };
  };
}
