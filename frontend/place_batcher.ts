// Group commit across the frontend-to-leader hop: Place requests that arrive in the same turn
// of the event loop go to the leader as ONE PlaceBatch call instead of one call each (a gRPC
// unary call costs far more CPU than an order's own work). Each caller still gets its own
// answer; an order the leader could not complete (PLACE_RETRY) fails alone with UNAVAILABLE
// and the caller's retry loop re-sends it with the same request id.

import { setImmediate } from "node:timers";
import { callUnary, grpc } from "../lib/grpc.ts";
import { PlaceStatus } from "../gen/order.ts";
import type { PlaceBatchReply, PlaceBatchRequest, PlaceReply, PlaceRequest } from "../gen/order.ts";
import type { ReplicaHandle } from "./leader_selector.ts";
import { placeBatchOrdersMax, placeTimeoutMs } from "./limits.ts";

type Waiting = { request: PlaceRequest; resolve: (reply: PlaceReply) => void; reject: (err: Error) => void };

/** An error shaped like a gRPC ServiceError, so the retry loop treats it like a failed call. */
function retryError(details: string): Error {
  return Object.assign(new Error(`${grpc.status.UNAVAILABLE} UNAVAILABLE: ${details}`), {
    code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata(),
  });
}

export class PlaceBatcher {
  private readonly waiting = new Map<ReplicaHandle, Waiting[]>();
  /** PlaceBatch calls sent, for /health: orders per call shows the batching at work. */
  calls = 0;
  orders = 0;

  place(leader: ReplicaHandle, request: PlaceRequest): Promise<PlaceReply> {
    return new Promise((resolve, reject) => {
      let queue = this.waiting.get(leader);
      if (!queue) {
        queue = [];
        this.waiting.set(leader, queue);
        setImmediate(() => this.flush(leader));
      }
      queue.push({ request, resolve, reject });
    });
  }

  private flush(leader: ReplicaHandle): void {
    const queue = this.waiting.get(leader) ?? [];
    this.waiting.delete(leader);
    for (let i = 0; i < queue.length; i += placeBatchOrdersMax) void this.send(leader, queue.slice(i, i + placeBatchOrdersMax));
  }

  private async send(leader: ReplicaHandle, batch: Waiting[]): Promise<void> {
    this.calls++;
    this.orders += batch.length;
    let reply: PlaceBatchReply;
    try {
      reply = await callUnary<PlaceBatchRequest, PlaceBatchReply>(
        leader.client, leader.client.placeBatch, { orders: batch.map((w) => w.request) }, placeTimeoutMs);
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
      return;
    }
    for (const [i, w] of batch.entries()) {
      const result = reply.results[i];
      if (result === undefined) w.reject(retryError("leader answered a short batch"));
      else if (result.status === PlaceStatus.PLACE_RETRY) w.reject(retryError(result.message));
      else w.resolve(result);
    }
  }
}
