// Trades and order queries as the client sees them: sent to the leader, and when the leader
// fails (connection error, deadline, "not leader", still catching up), re-run leader selection
// and retry the SAME request (same request id) until it succeeds or the retry budget is spent.
// The leader answers a request id already in its log with its number instead of trading it
// again (protos/PROTOCOL.md), so a retry is never applied twice.

import { callUnary, errorText, grpc, isServiceError, isTransient } from "../lib/grpc.ts";
import { sleep } from "../lib/sleep.ts";
import type { TimingEntry } from "./server_timing.ts";
import type { Logger } from "../lib/log.ts";
import { OrderSide, PlaceStatus } from "../gen/order.ts";
import type { OrderRecord } from "../gen/order.ts";
import { PlaceBatcher } from "./place_batcher.ts";
import type { Placed } from "./place_batcher.ts";
import type { LeaderSelector, ReplicaHandle } from "./leader_selector.ts";
import { getTimeoutMs, orderRetryBudgetMs, retryBackoffMsMax, retryBackoffMsMin } from "./limits.ts";
import { ApiError, badRequest, conflict, notFound, unavailable } from "./errors.ts";

export type OrderType = "buy" | "sell";
export type NewOrder = { readonly requestId: string; readonly name: string; readonly type: OrderType; readonly quantity: number };
export type OrderView = { number: number; name: string; type: OrderType; quantity: number };
export type PlaceOptions = {
  /** The HTTP request id, carried to the leader to name the order in its log lines. */
  readonly traceId: string;
};
/** A placed order's number, and the Server-Timing phases it went through (README "Server-Timing"). */
export type PlaceOutcome = { readonly number: number; readonly phases: readonly TimingEntry[] };

/** The phases of one order, in the order they happen; the leader's only when it measured them. */
function phasesOf(placed: Placed): TimingEntry[] {
  const phases: TimingEntry[] = [{ name: "queue", durMs: placed.queueMs }];
  const t = placed.timing;
  if (t === undefined || t.catalogMs <= 0) return phases;
  phases.push(
    { name: "leader-batch", durMs: t.leaderBatchMs },
    { name: "catalog", durMs: t.catalogMs },
    { name: "catalog-fsync", durMs: t.catalogFsyncMs },
    { name: "replicate", durMs: t.replicateMs },
  );
  if (t.fsyncMs >= 0) phases.push({ name: "fsync", durMs: t.fsyncMs });
  return phases;
}

export class OrderGateway {
  private readonly leaders: LeaderSelector;
  private readonly log: Logger;
  readonly batcher = new PlaceBatcher();
  /** Leader calls retried after a failure; /health shows it. */
  retries = 0;

  constructor(leaders: LeaderSelector, log: Logger) {
    this.leaders = leaders;
    this.log = log;
  }

  /** Place an order; resolves to its transaction number and where the time went. */
  async place(order: NewOrder, options: PlaceOptions): Promise<PlaceOutcome> {
    const request = {
      requestId: order.requestId,
      name: order.name,
      quantity: order.quantity,
      side: order.type === "buy" ? OrderSide.ORDER_SIDE_BUY : OrderSide.ORDER_SIDE_SELL,
    };
    const placed = await this.withLeader("place", (leader) => this.batcher.place(leader, request, options.traceId));
    const reply = placed.reply;
    switch (reply.status) {
      case PlaceStatus.PLACE_OK:
        return { number: reply.number, phases: phasesOf(placed) };
      case PlaceStatus.PLACE_INSUFFICIENT_QUANTITY:
        throw conflict("insufficient quantity");
      case PlaceStatus.PLACE_UNKNOWN_STOCK:
        throw badRequest("unknown stock");
      case PlaceStatus.PLACE_INVALID:
        throw badRequest(reply.message || "invalid order");
      default:
        throw unavailable(`unexpected reply from order service (status ${reply.status})`);
    }
  }

  /** One order by number, or a 404; `requestId` (the HTTP request's) travels as `x-request-id` call metadata, for the replica's log. */
  async get(number: number, requestId: string): Promise<OrderView> {
    try {
      const record = await this.withLeader(
        "get",
        (leader) =>
          callUnary<{ number: number }, OrderRecord>(
            leader.client,
            leader.client.get,
            { number },
            getTimeoutMs,
            { requestId },
          ),
      );
      return {
        number: record.number,
        name: record.name,
        quantity: record.quantity,
        type: record.side === OrderSide.ORDER_SIDE_BUY ? "buy" : "sell",
      };
    } catch (err) {
      if (isServiceError(err) && err.code === grpc.status.NOT_FOUND) throw notFound("order not found");
      throw err;
    }
  }

  private async withLeader<T>(what: string, call: (leader: ReplicaHandle) => Promise<T>): Promise<T> {
    const deadline = Date.now() + orderRetryBudgetMs;
    let backoff = retryBackoffMsMin;
    for (;;) {
      let leader: ReplicaHandle | undefined;
      try {
        leader = await this.leaders.current();
        return await call(leader);
      } catch (err) {
        if (!isRetryable(err)) throw err;
        if (Date.now() + backoff >= deadline) {
          this.log.limited("warn", "giving up on order call after retries", { call: what, error: String(err) });
          throw unavailable("no order replica available");
        }
        this.retries++;
        this.log.limited("info", "order call failed, reselecting leader", { call: what, leader: leader?.id, error: errorText(err) });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, retryBackoffMsMax);
        // A leader that still answers and still leads failed for another reason (the catalog is
        // down, a follower is slow): retry it rather than move the leadership around.
        if (leader && await this.leaders.stillLeading(leader)) continue;
        // Start (or join) the selection without waiting here: `current()` at the top of the
        // loop shares it, so one iteration runs one selection, not a failed one and then another.
        void this.leaders.reselect(leader).catch(() => undefined);
      }
    }
  }
}

/** A leader that is down, slow, not leading or catching up, or no leader found yet (503). */
function isRetryable(err: unknown): boolean {
  return isServiceError(err) ? isTransient(err) : err instanceof ApiError && err.status === 503;
}
