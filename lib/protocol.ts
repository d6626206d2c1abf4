// The rules the catalog and the order replicas share, in one place: how far the catalog may run
// ahead of the order log's commit point, and how many trades it hands back per reply. Each
// side imports these; the relations with each side's own limits are asserted where they load.
// The protocol itself is described in protos/PROTOCOL.md.

import { assert } from "./assert.ts";

/**
 * Orders (= trades the catalog applied) numbered after the leader's commit point, at most.
 * The catalog refuses a batch that would pass it (RESOURCE_EXHAUSTED) and the leader sends
 * none that would; it bounds what the catalog must keep for a new leader to adopt, and how
 * much a leader crash can leave to reconcile. Four full batches: two in flight need two.
 */
export const uncommittedOrdersMax = 2_048;

/** Trades in one TradeBatch call, and in one PlaceBatch (one batch is one commit at the catalog). */
export const tradeBatchMax = 512;

/** Trades a TradeBatch reply hands back for adoption at most; the leader asks again for more. */
export const missingTradesPageMax = uncommittedOrdersMax;

assert(uncommittedOrdersMax >= 2 * tradeBatchMax, "two batches can be in flight");
assert(missingTradesPageMax >= 1, "adoption makes progress");
