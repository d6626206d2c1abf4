// Every bound and deadline of an order replica, each with the reason for its value. The
// relations between them are asserted once, when this module loads, so a bad edit fails at
// start rather than as an oversized message or a stuck follower later. Bounds shared with the
// other services (request ids, names, quantities, batches) live in lib/protocol.ts.

import { assert } from "../lib/assert.ts";
import { messageBytesMax } from "../lib/grpc.ts";
import { placeBatchMax, requestIdBytesMax, stockNameBytesMax, tradeBatchMax, uncommittedOrdersMax } from "../lib/protocol.ts";

/**
 * Deadline of one catalog TradeBatch: one lock, one journal write and one fsync at the
 * catalog. Shorter than placeWaitMsMax so a stuck catalog fails the batch (UNAVAILABLE) while
 * its callers can still retry within the frontend's budget. Its outcome is then unknown; the
 * next TradeBatch finds it out positionally.
 */
export const catalogTimeoutMs = 1_000;

/** First pause before another TradeBatch after one failed; doubles up to the max. */
export const catalogRetryMs = 20;
export const catalogRetryMsMax = 500;

/**
 * An Append unanswered this long counts as failed: the follower is probed again (one Append
 * at a time) with backoff. A commit needs only a majority, so a slow follower does not hold
 * up orders; this only bounds how long it takes to notice it.
 */
export const appendTimeoutMs = 500;

/** A follower the leader has sent nothing for this long gets an empty Append (the commit point, and a sign of life). */
export const heartbeatMs = 100;

/** First pause between probes of a follower that fails; doubles up to the max. */
export const probeRetryMs = 20;
/** A restarted follower is found again within about this (plus the channel's reconnect backoff). */
export const probeRetryMsMax = 250;

/** Unanswered Appends to one follower at a time while it keeps up (pipelining batches). */
export const appendsInFlightMax = 4;

/** Orders in one Append: ~250 KiB on the wire at most, well under messageBytesMax. */
export const appendOrdersMax = 2_000;

/** The shell ticks its core this often: the resolution of every timer above and below. */
export const tickMs = 10;

/** Deadline of one RequestVote: a durable vote write on the peer. */
export const voteTimeoutMs = 500;

/** A candidate re-asks the peers that have not answered its vote request this often. */
export const voteRetryMs = 100;

/**
 * A candidate without a majority after this long gives up and fails its SetLeader (the frontend
 * then asks again, possibly another replica). Below the frontend's SetLeader deadline (3 s).
 */
export const campaignTimeoutMs = 1_500;

/**
 * An elected leader waits this long for its log to be committed (on a majority) before it
 * fails the SetLeader calls waiting for it with NOT_READY. Below the frontend's deadline.
 */
export const leaderReadyWaitMs = 2_500;

/**
 * A Place not answered within this (no majority holds it, the catalog does not answer) fails
 * with UNAVAILABLE so the frontend can retry, instead of waiting until the frontend's own
 * deadline (2 s) and learning nothing.
 */
export const placeWaitMsMax = 1_500;

/**
 * Place calls waiting for a batch. Past it Place fails with RESOURCE_EXHAUSTED (retryable)
 * instead of queueing memory without bound when the catalog or the disk falls behind.
 */
export const placeQueueMax = 20_000;

/** Trace ids named in one "not committed in time" log line: enough to follow a few requests, not a flood. */
export const traceIdsLoggedMax = 8;

/** Bytes of one order on the wire or in the log, with room for field tags and digits. */
export const orderBytesMax = requestIdBytesMax + stockNameBytesMax + 80;

assert(placeQueueMax >= placeBatchMax, "a full batch fits in the queue");
assert(appendOrdersMax * orderBytesMax < messageBytesMax, "every Append fits in one message");
assert(appendOrdersMax >= tradeBatchMax, "a batch fits in one Append");
assert(uncommittedOrdersMax >= 2 * tradeBatchMax, "a batch at the catalog and one replicating");
assert(catalogTimeoutMs < placeWaitMsMax, "a catalog call fails before its callers give up");
assert(campaignTimeoutMs < leaderReadyWaitMs, "campaign, then establishing");
assert(probeRetryMs <= probeRetryMsMax && catalogRetryMs <= catalogRetryMsMax, "backoff ranges");
assert(tickMs <= probeRetryMs && tickMs <= heartbeatMs, "ticks are finer than the timers they drive");
assert(voteTimeoutMs < campaignTimeoutMs, "a vote request can fail and be retried within a campaign");
assert(heartbeatMs < appendTimeoutMs, "a heartbeat is sent before silence counts as failure");
