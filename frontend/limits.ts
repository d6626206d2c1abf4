// Limits and deadlines of the frontend's application layer (the HTTP server's own limits are
// in http/limits.ts; request ids, stock names and quantities follow lib/protocol.ts). Every internal call runs under one of these deadlines. The relations
// between them are asserted at the end of the file, once, when it loads.

import { assert } from "../lib/assert.ts";
import { placeBatchMax } from "../lib/protocol.ts";

/** One catalog Lookup; a healthy catalog answers in well under a millisecond. */
export const lookupTimeoutMs = 1_000;
/**
 * One Place on the leader: a catalog call, a replicated append and fsyncs. Generous enough for a
 * loaded machine, short enough that a hung leader is abandoned quickly.
 */
export const placeTimeoutMs = 2_000;
/**
 * Orders per PlaceBatch call to the leader; the leader refuses more than placeBatchMax
 * (lib/protocol.ts, 512), asserted below.
 */
export const placeBatchOrdersMax = 256;
/**
 * PlaceBatch calls in flight per leader. The leader itself runs two batches at a time (its
 * catalog call overlapping the previous batch's replication); more calls in flight would only
 * make smaller batches, costing CPU per order.
 */
export const placeBatchCallsInFlightMax = 2;
/** One Get on the leader. */
export const getTimeoutMs = 1_000;
/** Health calls during leader selection. A dead replica refuses the connection at once; this
 * bounds only a hung one, and leaves room for a new channel to connect on a loaded machine. */
export const healthTimeoutMs = 1_000;
/**
 * SetLeader to the candidate answers once it has won a majority's votes and caught its
 * followers up to a committed log: milliseconds usually, about a second with a hung peer.
 */
export const setLeaderTimeoutMs = 3_000;
/**
 * Total time a trade or order query may spend across leader failovers before the client gets a
 * 503. A failover takes well under a second; this covers a replica that is still catching up.
 */
export const orderRetryBudgetMs = 10_000;
/**
 * One leader selection, all Health rounds and elections included; then the callers get a 503.
 * Room to wait out an establishing leader and run one campaign.
 */
export const leaderSelectBudgetMs = 5_000;
/**
 * How long a leader or candidate of the newest epoch that is not ready yet is waited for before
 * a new election may replace it. Establishing takes milliseconds; electing over a leader that
 * is about to be ready would only start an election storm between frontends.
 */
export const leaderEstablishWaitMs = 2_000;
/** Pause between Health rounds while an establishing leader is waited for. */
export const leaderEstablishPollMs = 20;
/**
 * Pause before the next Health round when no leader can be chosen or an election failed,
 * doubling up to the max: quick when a replica is just restarting, never a busy loop.
 */
export const leaderRetryBackoffMsMin = 10;
export const leaderRetryBackoffMsMax = 200;
/** A repeating selection warning is logged at most once per interval, with a count of the rest. */
export const leaderWarnIntervalMs = 1_000;
/** Pause between retries of the same request, doubling up to the max. */
export const retryBackoffMsMin = 10;
export const retryBackoffMsMax = 200;
/** Seconds suggested to clients in Retry-After on a 503. */
export const retryAfterSeconds = 1;

/** Longest Idempotency-Key header accepted. */
export const idempotencyKeyBytesMax = 128;

assert(
  leaderSelectBudgetMs >= leaderEstablishWaitMs + setLeaderTimeoutMs,
  "a selection can wait out an establishing leader, then campaign",
);
assert(2 * leaderSelectBudgetMs <= orderRetryBudgetMs, "a request whose selection failed has time for another");
assert(
  leaderEstablishPollMs < leaderEstablishWaitMs && leaderRetryBackoffMsMax < leaderEstablishWaitMs,
  "pauses are short next to the patience",
);
assert(leaderRetryBackoffMsMin > 0 && leaderRetryBackoffMsMin <= leaderRetryBackoffMsMax, "the backoff grows from a positive minimum");
assert(placeBatchOrdersMax >= 1 && placeBatchOrdersMax <= placeBatchMax, "the leader takes every PlaceBatch the frontend sends");
