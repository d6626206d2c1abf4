// The leader's view of its followers. A live follower gets every batch's Append and is waited
// on; one that fails or times out is marked behind and is not waited on again until a
// background task has caught it up (probe its last number, re-send the divergence overlap,
// then pages up to the leader's last order) and rejoined it: under the log lock, so no batch
// commits meanwhile, one Append carries the orders committed during the catch-up, and from
// then on the follower is live. This module sends; the follower's decisions are replica.ts's.

import { setTimeout as sleep } from "node:timers/promises";
import { assert } from "../lib/assert.ts";
import { grpc } from "../lib/grpc.ts";
import type { Logger } from "../lib/log.ts";
import type { OrderRecord } from "../gen/order.ts";
import {
  appendTimeoutMs, catchUpAppendTimeoutMs, catchUpRetryMs, catchUpRetryMsMax, joinGapOrdersMax, sincePageMax,
} from "./limits.ts";
import type { Mutex } from "./mutex.ts";
import type { OrderLog } from "./order_log.ts";
import type { PeerPort } from "./ports.ts";
import { errorText, statusOf } from "./ports.ts";
import { catchUpStart } from "./replica.ts";

export type FollowerStatus = "live" | "behind";

export type FollowerLink = {
  readonly peer: PeerPort;
  status: FollowerStatus;
  /** Highest number known to match the leader's log on this follower; -1 when none is. */
  matchNumber: number;
  /** A catch-up task owns the link (only while behind). */
  catchingUp: boolean;
};

export type FollowersDeps = {
  readonly id: number;
  readonly epoch: number;
  readonly log: OrderLog;
  /** The log lock: batches commit under it, and a caught-up follower rejoins under it. */
  readonly lock: Mutex;
  readonly logger: Logger;
  /** True while this leadership lasts. */
  readonly isCurrent: () => boolean;
  /** A follower refused the epoch: a newer leader exists. */
  readonly onNewerEpoch: (followerId: number, reason: string) => void;
};

export class Followers {
  private readonly deps: FollowersDeps;
  readonly links: FollowerLink[];
  private readonly abort = new AbortController();

  constructor(peers: readonly PeerPort[], deps: FollowersDeps) {
    this.deps = deps;
    this.links = peers.map((peer) => ({ peer, status: "behind", matchNumber: -1, catchingUp: false }));
  }

  /**
   * Start of a leadership: catch every reachable follower up now, so the first batch is
   * replicated like any other. A follower more than a page behind is left to the background
   * task instead, so that SetLeader answers quickly (the frontend waits for it).
   */
  async establish(): Promise<void> {
    await Promise.all(this.links.map(async (link) => {
      try {
        await this.catchUpRound(link, sincePageMax);
        link.status = "live";
      } catch (err) {
        this.failed(link, err, "not caught up at the start of the leadership");
      }
    }));
  }

  /** The followers the next batch goes to. Runs under the log lock, like the batch. */
  liveForBatch(): FollowerLink[] {
    return this.links.filter((l) => l.status === "live");
  }

  /** Append one batch to a live follower. Never rejects: a failure marks the follower behind. */
  async sendBatch(link: FollowerLink, records: readonly OrderRecord[]): Promise<void> {
    const first = (records[0] as OrderRecord).number;
    const last = (records[records.length - 1] as OrderRecord).number;
    assert(link.status === "live" && link.matchNumber === first - 1, "a batch goes to a live follower that holds every earlier order");
    try {
      const reply = await link.peer.append({ epoch: this.deps.epoch, leaderId: this.deps.id, orders: [...records] }, appendTimeoutMs);
      if (reply.lastNumber < last) throw new Error(`acknowledged up to ${reply.lastNumber}, not ${last}`);
      link.matchNumber = last;
    } catch (err) {
      this.failed(link, err, "batch append failed");
    }
  }

  /** Stop every catch-up task (the leadership ended). */
  stop(): void {
    this.abort.abort();
  }

  /** Ids of the followers that receive every batch synchronously. */
  liveIds(): number[] {
    return this.liveForBatch().map((l) => l.peer.id);
  }

  /** Follower ids by status, for the log: `{ live: "1 2", behind: "3" }`. */
  summary(): Record<FollowerStatus, string> {
    const by = (s: FollowerStatus): string => this.links.filter((l) => l.status === s).map((l) => l.peer.id).join(" ");
    return { live: by("live"), behind: by("behind") };
  }

  private failed(link: FollowerLink, err: unknown, what: string): void {
    if (statusOf(err) === grpc.status.FAILED_PRECONDITION) {
      this.deps.onNewerEpoch(link.peer.id, errorText(err));
      return;
    }
    this.markBehind(link, `${what}: ${errorText(err)}`);
  }

  private markBehind(link: FollowerLink, reason: string): void {
    if (link.status !== "behind") this.deps.logger.warn("follower behind", { follower: link.peer.id, reason });
    link.status = "behind";
    if (link.catchingUp || !this.deps.isCurrent()) return;
    link.catchingUp = true;
    void this.catchUpLoop(link).finally(() => {
      link.catchingUp = false;
    });
  }

  private async catchUpLoop(link: FollowerLink): Promise<void> {
    let delayMs = catchUpRetryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await sleep(delayMs, undefined, { signal: this.abort.signal });
      } catch {
        return; // the leadership ended
      }
      if (!this.deps.isCurrent()) return;
      try {
        await this.catchUpRound(link);
        if (await this.deps.lock.run(() => this.join(link))) {
          this.deps.logger.info("follower live again", { follower: link.peer.id, match: link.matchNumber, attempts: attempt });
          return;
        }
        this.deps.logger.debug("follower fell too far behind while catching up; another round", { follower: link.peer.id, attempt });
      } catch (err) {
        if (statusOf(err) === grpc.status.FAILED_PRECONDITION) return this.deps.onNewerEpoch(link.peer.id, errorText(err));
        // A refused divergence, or a follower that lacks the RPC (another version), needs an operator.
        const code = statusOf(err);
        const level = code === grpc.status.DATA_LOSS || code === grpc.status.UNIMPLEMENTED ? "error" : "debug";
        this.deps.logger[level]("catch-up attempt failed", { follower: link.peer.id, attempt, error: errorText(err) });
      }
      delayMs = Math.min(delayMs * 2, catchUpRetryMsMax);
    }
  }

  /**
   * Under the log lock (no batch commits meanwhile): send the caught-up follower the orders
   * committed since its catch-up round and mark it live, so the next batch includes it. False
   * when more than joinGapOrdersMax came in meanwhile: the caller runs another round first.
   */
  private async join(link: FollowerLink): Promise<boolean> {
    const { epoch, id: leaderId, log } = this.deps;
    if (!this.deps.isCurrent()) throw new Error("leadership ended");
    const missing = log.slice(link.matchNumber + 1, log.lastNumber + 1);
    if (missing.length > joinGapOrdersMax) return false;
    if (missing.length > 0) {
      const reply = await link.peer.append({ epoch, leaderId, orders: missing }, appendTimeoutMs);
      if (reply.lastNumber < log.lastNumber) throw new Error(`acknowledged up to ${reply.lastNumber}, not ${log.lastNumber}`);
    }
    link.matchNumber = log.lastNumber;
    link.status = "live";
    return true;
  }

  /**
   * Probe the follower's last number, then send from the divergence overlap up to the leader's
   * last order, page by page. Rejects on any failure (and when the follower is more than
   * `gapOrdersMax` behind); the caller decides what it means.
   */
  private async catchUpRound(link: FollowerLink, gapOrdersMax = Number.POSITIVE_INFINITY): Promise<void> {
    const { epoch, id: leaderId, log } = this.deps;
    const probe = await link.peer.append({ epoch, leaderId, orders: [] }, appendTimeoutMs);
    link.matchNumber = -1;
    if (log.lastNumber - probe.lastNumber > gapOrdersMax) throw new Error(`${log.lastNumber - probe.lastNumber} orders behind`);
    let next = catchUpStart(probe.lastNumber, log.lastNumber);
    while (next <= log.lastNumber) {
      if (!this.deps.isCurrent()) throw new Error("leadership ended");
      const page = log.slice(next, next + sincePageMax);
      await link.peer.append({ epoch, leaderId, orders: page }, catchUpAppendTimeoutMs);
      next = (page[page.length - 1] as OrderRecord).number + 1;
    }
    link.matchNumber = next - 1;
    assert(link.matchNumber === log.lastNumber, "a caught-up follower matches the leader's last order");
  }
}
