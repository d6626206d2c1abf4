// The open `Invalidations` streams and the push to them. Each commit publishes one
// `{name, version}` per changed stock to every subscriber. A subscriber is registered when its
// initial metadata is sent (so a client that has seen the metadata knows no commit can be
// missed from then on) and forgotten when its stream is cancelled, fails or ends. Nothing is
// buffered without bound: a subscriber that does not read and falls more than a backlog
// behind has its stream ended with RESOURCE_EXHAUSTED, so it resubscribes and drops its cache.

import type { Invalidation, SubscribeRequest } from "../gen/catalog.ts";
import { grpc } from "../lib/grpc.ts";
import type { Logger } from "../lib/log.ts";
import { OverloadedError, StoreClosedError } from "./errors.ts";
import * as limits from "./limits.ts";

export type InvalidationCall = grpc.ServerWritableStream<SubscribeRequest, Invalidation>;

type Subscriber = { readonly id: number; readonly name: string; readonly call: InvalidationCall };

export type HubOptions = {
  readonly subscribersMax?: number;
  readonly backlogMax?: number;
};

export class InvalidationHub {
  private readonly log: Logger;
  private readonly subscribers = new Map<number, Subscriber>();
  private readonly subscribersMax: number;
  private readonly backlogMax: number;
  private nextId = 1;
  private closed = false;
  /** Streams ended because their subscriber fell too far behind. */
  cut = 0;

  constructor(log: Logger, options: HubOptions = {}) {
    this.log = log;
    this.subscribersMax = options.subscribersMax ?? limits.subscribersMax;
    this.backlogMax = options.backlogMax ?? limits.subscriberBacklogMax;
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Register an open stream; throws OverloadedError when full, StoreClosedError when stopping. */
  subscribe(call: InvalidationCall): void {
    if (this.closed) throw new StoreClosedError();
    if (this.subscribers.size >= this.subscribersMax) {
      throw new OverloadedError(`more than ${this.subscribersMax} invalidation subscribers`);
    }
    const subscriber: Subscriber = {
      id: this.nextId++,
      name: call.request.subscriber.slice(0, limits.subscriberNameLengthMax),
      call,
    };
    this.subscribers.set(subscriber.id, subscriber);
    const forget = (): void => this.forget(subscriber, "stream closed");
    call.on("cancelled", forget);
    call.on("error", forget);
    call.on("finish", forget);
    call.on("close", forget);
    call.sendMetadata(new grpc.Metadata());
    this.log.info("subscriber joined", { subscriber: subscriber.name, peer: call.getPeer(), subscribers: this.size });
  }

  /** Push to every subscriber; cut those whose unread backlog passed the bound. */
  publish(invalidations: readonly Invalidation[]): void {
    for (const subscriber of this.subscribers.values()) {
      for (const invalidation of invalidations) subscriber.call.write(invalidation);
      if (subscriber.call.writableLength > this.backlogMax) this.cutOff(subscriber);
    }
  }

  /** End every stream (shutdown); subscribers see UNAVAILABLE and resubscribe elsewhere or later. */
  closeAll(): void {
    this.closed = true;
    for (const subscriber of [...this.subscribers.values()]) {
      this.end(subscriber, grpc.status.UNAVAILABLE, "catalog is shutting down");
    }
  }

  private cutOff(subscriber: Subscriber): void {
    this.cut++;
    this.log.warn("subscriber too far behind, ending its stream", {
      subscriber: subscriber.name,
      backlog: subscriber.call.writableLength,
    });
    this.end(subscriber, grpc.status.RESOURCE_EXHAUSTED, "invalidation backlog full: resubscribe and drop the cache");
  }

  private end(subscriber: Subscriber, code: grpc.status, details: string): void {
    this.forget(subscriber, details);
    // grpc-js turns an 'error' event on a server stream into the call's final status. It is
    // sent after what is already queued, so the subscriber first sees every earlier push.
    subscriber.call.emit("error", { code, details, metadata: new grpc.Metadata() });
  }

  private forget(subscriber: Subscriber, reason: string): void {
    if (!this.subscribers.delete(subscriber.id)) return;
    this.log.info("subscriber left", { subscriber: subscriber.name, reason, subscribers: this.size });
  }
}
