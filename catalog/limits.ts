// Every bound the catalog keeps, in one place, each with the reason for its value. The
// relations between them, and with the limits the catalog shares with the order replicas
// (lib/protocol.ts), are asserted once, when this module loads, so a bad edit fails at start
// instead of as a subtle overflow later.

import { assert } from "../lib/assert.ts";
import { orderQuantityMax, tradeBatchMax, uncommittedOrdersMax } from "../lib/protocol.ts";

/**
 * Applied trades the catalog keeps by number (in memory and in the compacted journal), to hand
 * to a new order leader whose log lacks them, and whose request ids it refuses to number twice.
 * Every trade numbered after the leader's commit point must be kept, because only those can be
 * missing from the log of the next leader: so at least uncommittedOrdersMax. Far more are kept
 * as margin (a replica that lagged behind the commit point may still become leader) and to
 * catch a leader bug resending an old id; 100k rows stay under ~10 MiB and load in well under
 * a second.
 */
export const retainedTradesMax = 100_000;

/**
 * Journal rows appended between two checkpoints (catalog.csv rewrite + journal compaction
 * to the last retainedTradesMax rows). Equal to retainedTradesMax, so compaction rewrites each
 * row about once (a checkpoint costs O(retainedTradesMax), amortized O(1) per trade) and the
 * journal never holds more than twice retainedTradesMax rows, which bounds the parse at start.
 */
export const checkpointTradesInterval = 100_000;

/**
 * Journal rows formatted between two yields to the event loop during compaction, so a
 * checkpoint does not stall lookups for the whole rewrite.
 */
export const compactionRowsPerYield = 4_096;

/**
 * Largest quantity a stock may hold. Sells beyond it are refused, so quantities (and the
 * sums in a batch) stay exact in a JavaScript number and in int64.
 */
export const stockQuantityMax = 1_000_000_000_000_000;

/** Largest trading volume of a stock; a trade that would pass it is refused (never wraps). */
export const stockVolumeMax = Number.MAX_SAFE_INTEGER;

/**
 * Trades applied by one commit (one journal write + one fdatasync). Bounds the write size
 * and how long the write lock is held while the new states are installed.
 */
export const tradesPerCommitMax = 4_096;

/**
 * Trades waiting for the batcher (an empty TradeBatch takes the room of one). Past it a
 * TradeBatch fails with RESOURCE_EXHAUSTED (a retryable status) instead of queueing memory
 * without bound when the disk falls behind.
 */
export const tradesQueuedMax = 20_000;

/** Open Invalidations streams: a few frontends each, with room for restarts and tools. */
export const subscribersMax = 256;

/**
 * Invalidations queued on one stream that the subscriber has not read yet. Past it the
 * stream is ended with an error: the subscriber must resubscribe and drop its cache. One
 * commit pushes up to one invalidation per trade at once, so a healthy subscriber needs
 * room for a few commits' bursts.
 */
export const subscriberBacklogMax = 16_384;

/** Characters of a subscriber's free-form name; only logged, so it is cut, not refused. */
export const subscriberNameLengthMax = 128;

/** Largest test-only lookup delay (CATALOG_LOOKUP_DELAY_MS): a race needs ms, not minutes. */
export const lookupDelayMsMax = 60_000;

/** Highest price a stock may have; prices are fixed, this only bounds what catalog.csv may hold. */
export const stockPriceMax = 1_000_000_000;

/** Stocks in catalog.csv: the whole table is held in memory and rewritten per checkpoint. */
export const stocksMax = 100_000;

assert(orderQuantityMax <= stockQuantityMax, "one trade fits into a stock");
assert(Number.isSafeInteger(stockQuantityMax + orderQuantityMax), "a sell is exact before it is checked");
assert(Number.isSafeInteger(stockVolumeMax), "volume is exact");
assert(tradeBatchMax <= tradesPerCommitMax, "one TradeBatch fits into one commit");
assert(tradesPerCommitMax <= tradesQueuedMax, "a full commit can be queued");
assert(retainedTradesMax >= uncommittedOrdersMax, "every trade after a leader's commit point is kept for the next leader");
assert(checkpointTradesInterval >= 1 && compactionRowsPerYield >= 1, "checkpoints and compaction make progress");
assert(subscriberBacklogMax >= 2 * tradesPerCommitMax, "a reading subscriber absorbs two full commits' pushes");
