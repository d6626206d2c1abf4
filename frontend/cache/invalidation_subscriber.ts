// Server push: keeps one Invalidations stream open to the catalog, applies every invalidation
// to the cache, and resubscribes with exponential backoff when the stream breaks. It tells the
// reader whether the cache may be used (isSubscribed) and under which subscription
// (generation); it does not look anything up itself.
//
// States: stopped → connecting → clearing → subscribed → backoff → connecting ...
// - connecting: the stream is open but the catalog has not confirmed it. The catalog sends the
//   response headers right after registering the subscriber (catalog contract), and grpc-js
//   reports them as the 'metadata' event; before that, invalidations could be missed.
// - clearing: confirmed; the cache is emptied (new epoch) so nothing cached before the
//   subscription, when invalidations could have been missed, survives it.
// - subscribed: the only state in which the reader uses the cache.
// A break is an 'error' or 'end' of the stream. The stream has no deadline (it is meant to
// live forever); a silently dead connection is found by the channel's keepalive pings
// (lib/grpc.ts channelOptions), which fail the stream with UNAVAILABLE.

import type { CatalogClient, Invalidation } from "../../gen/catalog.ts";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { Logger } from "../../lib/log.ts";
import type { StockCache } from "./cache.ts";

/** First wait before resubscribing; short, since a catalog restart is the common cause. */
export const resubscribeDelayMsFirst = 100;
/** Longest wait between attempts, so a catalog that comes back is used within this long. */
export const resubscribeDelayMsMax = 5_000;
/** Each wait is randomised by ± this fraction so frontends do not resubscribe in lockstep. */
export const resubscribeJitterRatio = 0.2;

export type SubscriberState = "stopped" | "connecting" | "clearing" | "subscribed" | "backoff";

export type SubscriberStats = {
  readonly state: SubscriberState;
  /** Times the stream was confirmed (the first subscription included). */
  readonly subscriptions: number;
  readonly invalidations: number;
  /** Confirmed streams that ended or failed. */
  readonly breaks: number;
  /** Attempts that failed before the catalog confirmed them (catalog down, refused). */
  readonly failedAttempts: number;
  readonly lastBreak: string | undefined;
};

export type InvalidationSubscriberOptions = {
  readonly catalog: CatalogClient;
  readonly cache: StockCache;
  readonly log: Logger;
  /** Shown in the catalog's log. */
  readonly subscriberName: string;
  readonly delayMsFirst?: number;
  readonly delayMsMax?: number;
};

export class InvalidationSubscriber {
  private state: SubscriberState = "stopped";
  private call: ClientReadableStream<Invalidation> | undefined;
  private currentGeneration = 0;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private subscriptions = 0;
  private invalidations = 0;
  private breaks = 0;
  private failedAttempts = 0;
  private lastBreak: string | undefined;
  private readonly options: InvalidationSubscriberOptions;
  private readonly delayMsFirst: number;
  private readonly delayMsMax: number;

  constructor(options: InvalidationSubscriberOptions) {
    this.options = options;
    this.delayMsFirst = options.delayMsFirst ?? resubscribeDelayMsFirst;
    this.delayMsMax = options.delayMsMax ?? resubscribeDelayMsMax;
    if (!(this.delayMsFirst > 0 && this.delayMsMax >= this.delayMsFirst)) {
      throw new RangeError(`resubscribe delays must satisfy 0 < first <= max (got ${this.delayMsFirst}, ${this.delayMsMax})`);
    }
  }

  /** True only while a confirmed stream is open and the cache was cleared under it. */
  isSubscribed(): boolean {
    return this.state === "subscribed";
  }

  /**
   * Changes whenever a stream starts or ends. A lookup records it when it starts and fills the
   * cache only if it is unchanged, so a reply from before a break never fills after it.
   */
  generation(): number {
    return this.currentGeneration;
  }

  stats(): SubscriberStats {
    return {
      state: this.state,
      subscriptions: this.subscriptions,
      invalidations: this.invalidations,
      breaks: this.breaks,
      failedAttempts: this.failedAttempts,
      lastBreak: this.lastBreak,
    };
  }

  start(): void {
    if (this.state !== "stopped") return;
    this.connect();
  }

  close(): void {
    this.become("stopped");
    clearTimeout(this.timer);
    this.timer = undefined;
    const call = this.call;
    this.call = undefined;
    this.currentGeneration++;
    call?.cancel();
  }

  private connect(): void {
    this.timer = undefined;
    this.currentGeneration++;
    this.become("connecting");
    const call = this.options.catalog.invalidations({ subscriber: this.options.subscriberName });
    this.call = call;
    call.on("metadata", () => void this.onConfirmed(call));
    call.on("data", (invalidation: Invalidation) => this.onInvalidation(call, invalidation));
    call.on("error", (err: Error) => this.onBreak(call, err.message));
    call.on("end", () => this.onBreak(call, "stream ended"));
  }

  private async onConfirmed(call: ClientReadableStream<Invalidation>): Promise<void> {
    if (call !== this.call) return;
    this.become("clearing");
    // A backend that fails to clear bypasses itself until a later clear works (cache.ts), so
    // becoming subscribed after a failed clear cannot serve entries from before.
    await this.options.cache.clear();
    if (call !== this.call) return;
    this.attempt = 0;
    this.subscriptions++;
    this.become("subscribed");
  }

  private onInvalidation(call: ClientReadableStream<Invalidation>, invalidation: Invalidation): void {
    if (call !== this.call) return;
    const { name, version } = invalidation;
    if (name === "" || !Number.isSafeInteger(version) || version < 0) {
      // An invalidation we cannot apply could hide a change: treat the stream as broken.
      this.onBreak(call, `bad invalidation ${JSON.stringify(invalidation)}`);
      return;
    }
    this.invalidations++;
    // Not awaited: the stream delivers in order and each backend applies calls in the order
    // they are made (one JS turn, or one Redis connection), so order is kept anyway.
    void this.options.cache.invalidate(name, version);
  }

  private onBreak(call: ClientReadableStream<Invalidation>, reason: string): void {
    if (call !== this.call) return;
    this.call = undefined;
    this.currentGeneration++;
    if (this.state === "connecting") this.failedAttempts++;
    else this.breaks++;
    this.lastBreak = reason;
    call.cancel();
    // While unsubscribed the reader does not use the cache; emptying it now also frees memory.
    void this.options.cache.clear();
    const delayMs = this.nextDelayMs();
    this.options.log.limited("warn", "invalidation stream broken, resubscribing", { reason, delay_ms: delayMs, attempt: this.attempt });
    this.become("backoff");
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  private nextDelayMs(): number {
    const delayMs = resubscribeDelayMs(this.attempt, this.delayMsFirst, this.delayMsMax, Math.random());
    this.attempt++;
    return delayMs;
  }

  private become(state: SubscriberState): void {
    if (state === this.state) return;
    const from = this.state;
    this.state = state;
    if (state === "subscribed" || from === "subscribed") {
      this.options.log.info(`invalidation stream ${state}`, { from, generation: this.currentGeneration });
    } else {
      this.options.log.debug(`invalidation stream ${state}`, { from, generation: this.currentGeneration });
    }
  }
}

/** Exponential backoff with jitter: `first` doubled per failed attempt, capped at `max`; random01 in [0, 1). */
export function resubscribeDelayMs(attempt: number, first: number, max: number, random01: number): number {
  const base = Math.min(first * 2 ** Math.min(attempt, 30), max);
  return Math.round(base * (1 + resubscribeJitterRatio * (2 * random01 - 1)));
}
