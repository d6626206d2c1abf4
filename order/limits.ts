// Every bound and deadline of an order replica, each with the reason for its value. The
// relations between them are asserted once, when this module loads, so a bad edit fails at
// start rather than as an oversized message or a stuck follower later.

import { assert } from "../lib/assert.ts";
import { messageBytesMax } from "../lib/grpc.ts";

/**
 * Deadline of one catalog TradeBatch: one lock, one journal write and one fsync at the
 * catalog. Shorter than the frontend's Place deadline (2 s) so that a stuck catalog fails the
 * batch with UNAVAILABLE here, and the frontend can still retry within its own budget.
 */
export const catalogTimeoutMs = 1_000;

/**
 * Deadline of one Append of a batch to a live follower. Short: a follower that does not answer
 * in time is marked behind and caught up in the background, so a dead follower costs the
 * waiting Place calls at most this long once, not on every batch.
 */
export const appendTimeoutMs = 300;

/** Deadline of one catch-up page (up to sincePageMax orders) sent to a behind follower. */
export const catchUpAppendTimeoutMs = 2_000;

/** Deadline of one Since page pulled from a peer while recovering or becoming leader. */
export const sinceTimeoutMs = 2_000;

/** Deadline of a peer's Health while recovering: a peer that does not answer is skipped. */
export const peerHealthTimeoutMs = 500;

/** Orders in one Since reply or catch-up page: ~100 KiB on the wire, well under messageBytesMax. */
export const sincePageMax = 2_000;

/**
 * Place calls answered by one batch: one catalog TradeBatch, one Append per follower and one
 * local fsync serve all of them. Under the catalog's own TradeBatch bound (1,000).
 */
export const placeBatchMax = 512;

/**
 * Batches between taking their calls and answering them. Two let a batch's catalog call (one
 * fsync at the catalog) overlap the previous batch's replication (fsyncs on every replica):
 * with the frontend batching its calls (PlaceBatch) this about doubled acknowledged trades/s
 * through POST /orders; three measured no better. Commit is serialized by the log lock, so
 * numbering stays strictly ordered whatever this is.
 */
export const placeBatchesInFlightMax = 2;

/**
 * Place calls waiting for a batch. Past it Place fails with RESOURCE_EXHAUSTED (retryable)
 * instead of queueing memory without bound when the catalog or the disk falls behind.
 */
export const placeQueueMax = 20_000;

/**
 * The most orders a replica can hold that the current leader does not: the one batch a leader
 * writes locally in parallel with its followers before it learns it was deposed (batches
 * commit one at a time under the log lock, and each is answered before the next commits). A follower drops at most this many divergent orders when the leader's log
 * disagrees, and every catch-up re-sends this many already-held orders so that the divergence
 * is inside the compared range. More than this means acknowledged orders would be dropped:
 * the follower refuses (DATA_LOSS) instead.
 */
export const divergenceOrdersMax = placeBatchMax;

/**
 * A caught-up follower within this many orders of the leader rejoins at once: under the log
 * lock, one Append carries the orders committed while it caught up. More: another catch-up
 * round first (the Append stays small, and the lock is held for one round trip only).
 */
export const joinGapOrdersMax = placeBatchMax;

/** First pause between catch-up attempts to a behind follower; doubles up to the max. */
export const catchUpRetryMs = 100;
/**
 * Longest pause between catch-up attempts: a restarted follower rejoins within about this
 * (plus the channel's own reconnect backoff, at most 500 ms in lib/grpc.ts).
 */
export const catchUpRetryMsMax = 250;

/** Bytes of a request id: the frontend sends a UUID or `k-` and 32 base64url characters. */
export const requestIdBytesMax = 128;

/** Bytes of a stock name (the frontend accepts 128; the catalog holds names of at most 64). */
export const nameBytesMax = 128;

/** Largest quantity of one order: the catalog's own bound on one trade. */
export const quantityMax = 1_000_000;

/** Bytes of one order on the wire or in the log, with room for field tags and digits. */
export const orderBytesMax = requestIdBytesMax + nameBytesMax + 64;

assert(placeBatchMax >= 1 && placeBatchMax <= 1_000, "placeBatchMax within the catalog's TradeBatch bound");
assert(placeQueueMax >= placeBatchMax, "a full batch fits in the queue");
assert(placeBatchesInFlightMax >= 1, "at least one batch runs");
assert(divergenceOrdersMax >= placeBatchMax, "a deposed leader's in-flight batch can be dropped");
assert(Math.max(joinGapOrdersMax, placeBatchMax, sincePageMax) * orderBytesMax < messageBytesMax, "every Append fits in one message");
assert(sincePageMax * orderBytesMax < messageBytesMax, "a catch-up page fits in one message");
assert(sincePageMax >= divergenceOrdersMax, "the overlap of a catch-up fits in its first page");
assert(catchUpRetryMs <= catchUpRetryMsMax, "catch-up backoff range");
assert(Number.isSafeInteger(quantityMax), "quantities stay exact");
