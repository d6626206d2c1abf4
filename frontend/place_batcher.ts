// Group commit across the frontend-to-leader hop: Place requests go to the leader as PlaceBatch
// calls of many orders instead of one call each (a gRPC call costs far more CPU than an order's
// own work), sent on the leader's long-lived PlaceBatches stream (lib/stream_calls.ts). An order
// that finds fewer than placeBatchCallsInFlightMax calls in flight leaves at once, alone; orders
// arriving while that many are in flight wait and leave together when a call returns, so batches
// grow with load and a lone client waits for nothing (natural batching: no timer, no turn of the
// event loop). Each caller still gets its own answer; an order the leader could not complete
// (PLACE_RETRY) fails alone with UNAVAILABLE and the caller's retry loop re-sends it with the
// same request id.

import { grpc } from "../lib/grpc.ts";
import { callFailure } from "../lib/stream_calls.ts";
import { PlaceStatus } from "../gen/order.ts";
import type { PlaceBatchReply, PlaceReply, PlaceRequest, PlaceTiming } from "../gen/order.ts";
import type { ReplicaHandle } from "./leader_selector.ts";
import { placeBatchCallsInFlightMax, placeBatchOrdersMax, placeTimeoutMs } from "./limits.ts";

/** The leader's answer to one order, with where its time went (Server-Timing). */
export type Placed = {
  readonly reply: PlaceReply;
  /** Milliseconds the order waited here before its PlaceBatch call went out. */
  readonly queueMs: number;
  readonly timing: PlaceTiming | undefined;
};

type Waiting = {
  readonly request: PlaceRequest;
  readonly traceId: string;
  readonly queuedAt: number;
  readonly resolve: (placed: Placed) => void;
  readonly reject: (err: Error) => void;
};
type LeaderQueue = { waiting: Waiting[]; inFlight: number };

export class PlaceBatcher {
  private readonly queues = new Map<ReplicaHandle, LeaderQueue>();
  /** PlaceBatch calls sent, for /health: orders per call shows the batching at work. */
  calls = 0;
  orders = 0;

  /** `traceId` (the HTTP request's id) names the order in the leader's log lines. */
  place(leader: ReplicaHandle, request: PlaceRequest, traceId: string): Promise<Placed> {
    let queue = this.queues.get(leader);
    if (!queue) {
      queue = { waiting: [], inFlight: 0 };
      this.queues.set(leader, queue);
    }
    const q = queue;
    return new Promise((resolve, reject) => {
      q.waiting.push({ request, traceId, queuedAt: performance.now(), resolve, reject });
      this.flush(leader, q);
    });
  }

  private flush(leader: ReplicaHandle, q: LeaderQueue): void {
    while (q.waiting.length > 0 && q.inFlight < placeBatchCallsInFlightMax) {
      const batch = q.waiting.splice(0, placeBatchOrdersMax);
      q.inFlight++;
      void this.send(leader, batch).finally(() => {
        q.inFlight--;
        this.flush(leader, q);
        if (q.inFlight === 0 && q.waiting.length === 0) this.queues.delete(leader);
      });
    }
  }

  private async send(leader: ReplicaHandle, batch: Waiting[]): Promise<void> {
    this.calls++;
    this.orders += batch.length;
    const sentAt = performance.now();
    let reply: PlaceBatchReply;
    try {
      const traceIds = batch.map((w) => w.traceId);
      reply = await leader.placeBatches.call({ orders: batch.map((w) => w.request), traceIds }, placeTimeoutMs);
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
      return;
    }
    for (const [i, w] of batch.entries()) {
      const result = reply.results[i];
      // Shaped like a failed gRPC call (UNAVAILABLE), so the retry loop re-sends the order alone.
      if (result === undefined) w.reject(callFailure(grpc.status.UNAVAILABLE, "leader answered a short batch"));
      else if (result.status === PlaceStatus.PLACE_RETRY) w.reject(callFailure(grpc.status.UNAVAILABLE, result.message));
      else w.resolve({ reply: result, queueMs: sentAt - w.queuedAt, timing: reply.timings[i] });
    }
  }
}
