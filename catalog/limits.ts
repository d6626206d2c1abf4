// Every bound the catalog keeps, in one place, each with the reason for its value. The
// relations between them are asserted once, when this module loads, so a bad edit fails at
// start instead of as a subtle overflow later.

import { assert } from "../lib/assert.ts";

/**
 * How many applied request ids are remembered for dedupe (in memory and in the compacted
 * journal). An order leader retries a trade within seconds of a crash; at the few thousand
 * trades/s one catalog takes over gRPC, 100k trades cover half a minute or more, while the
 * journal stays under ~10 MiB and loads in well under a second.
 */
export const requestIdsMax = 100_000;

/**
 * Journal rows appended between two checkpoints (catalog.csv rewrite + journal compaction
 * to the last requestIdsMax rows). Equal to requestIdsMax, so compaction rewrites each row
 * about once (a checkpoint costs O(requestIdsMax), amortized O(1) per trade) and the journal
 * never holds more than twice requestIdsMax rows, which bounds the parse at start.
 */
export const checkpointTradesInterval = 100_000;

/**
 * Journal rows formatted between two yields to the event loop during compaction, so a
 * checkpoint does not stall lookups for the whole rewrite.
 */
export const compactionRowsPerYield = 4_096;

/** Largest quantity of one trade: far above any real order, far below stockQuantityMax. */
export const tradeQuantityMax = 1_000_000;

/**
 * Largest quantity a stock may hold. Sells beyond it are refused, so quantities (and the
 * sums in a batch) stay exact in a JavaScript number and in int64.
 */
export const stockQuantityMax = 1_000_000_000_000_000;

/** Largest trading volume of a stock; a trade that would pass it is refused (never wraps). */
export const stockVolumeMax = Number.MAX_SAFE_INTEGER;

/** Trades in one TradeBatch call: one batch must fit into one commit. */
export const tradeBatchMax = 1_000;

/**
 * Trades applied by one commit (one journal write + one fdatasync). Bounds the write size
 * and how long the write lock is held while the new states are installed.
 */
export const tradesPerCommitMax = 4_096;

/**
 * Trades waiting for the batcher. Past it Trade fails with RESOURCE_EXHAUSTED (a retryable
 * status) instead of queueing memory without bound when the disk falls behind.
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

/** Bytes of a request id: a UUID or `frontend-counter` fits many times over. */
export const requestIdBytesMax = 128;

/** Bytes of a stock name, in lookups, trades and catalog.csv. */
export const stockNameBytesMax = 64;

/** Characters of a subscriber's free-form name; only logged, so it is cut, not refused. */
export const subscriberNameLengthMax = 128;

/** Largest test-only lookup delay (CATALOG_LOOKUP_DELAY_MS): a race needs ms, not minutes. */
export const lookupDelayMsMax = 60_000;

/** Highest price a stock may have; prices are fixed, this only bounds what catalog.csv may hold. */
export const stockPriceMax = 1_000_000_000;

/** Stocks in catalog.csv: the whole table is held in memory and rewritten per checkpoint. */
export const stocksMax = 100_000;

assert(tradeQuantityMax <= stockQuantityMax, "one trade fits into a stock");
assert(Number.isSafeInteger(stockQuantityMax + tradeQuantityMax), "a sell is exact before it is checked");
assert(Number.isSafeInteger(stockVolumeMax), "volume is exact");
assert(tradeBatchMax <= tradesPerCommitMax, "one TradeBatch fits into one commit");
assert(tradesPerCommitMax <= tradesQueuedMax, "a full commit can be queued");
assert(subscriberBacklogMax >= 2 * tradesPerCommitMax, "a reading subscriber absorbs two full commits' pushes");
