// The rules every service shares, in one place: what a request id, a stock name and an order
// quantity may be, how large the batches between frontend, order leader and catalog are, and how
// far the catalog may run ahead of the order log's commit point. Every service imports these
// instead of keeping its own copy; each service's limits.ts asserts how its own bounds relate to
// them when it loads. The replication protocol itself is described in protos/PROTOCOL.md.

import { Buffer } from "node:buffer";
import { assert } from "./assert.ts";

/**
 * Bytes of a request id. The frontend sends a UUID (36 characters) or `k-` and 32 base64url
 * characters; a test or a tool may send `frontend-counter`. Each fits many times over.
 */
export const requestIdBytesMax = 128;

/**
 * The longest X-Request-Id (the HTTP request's trace id) taken from a client and passed on: long
 * enough for any UUID, trace id or prefixed id a proxy adds, short enough that echoing it and
 * logging it stays cheap.
 */
export const traceIdBytesMax = 128;

const traceIdRe = new RegExp(`^[\\x21-\\x7e]{1,${traceIdBytesMax}}$`);

/**
 * A trace id is 1 to traceIdBytesMax visible US-ASCII characters: no spaces, so a repeated
 * header joined with ", " is refused too. The frontend replaces any other with its own; a server
 * ignores any other in call metadata; the client refuses to send one.
 */
export function isTraceId(value: unknown): value is string {
  return typeof value === "string" && traceIdRe.test(value);
}

/**
 * Bytes of a stock name, in lookups, orders, trades, catalog.csv and the order log. The catalog
 * holds no longer name, so a longer one can only be an unknown stock: the frontend refuses it
 * before any internal call is made.
 */
export const stockNameBytesMax = 64;

/** Largest quantity of one order (one trade at the catalog): far above any real order. */
export const orderQuantityMax = 1_000_000;

/**
 * Orders (= trades the catalog applied) numbered after the leader's commit point, at most.
 * The catalog refuses a batch that would pass it (RESOURCE_EXHAUSTED) and the leader sends
 * none that would; it bounds what the catalog must keep for a new leader to adopt, and how
 * much a leader crash can leave to reconcile. Four full batches: two in flight need two.
 */
export const uncommittedOrdersMax = 2_048;

/** Trades in one TradeBatch call (one batch is one commit at the catalog). */
export const tradeBatchMax = 512;

/** Orders in one PlaceBatch call to the order leader: one TradeBatch carries them. */
export const placeBatchMax = tradeBatchMax;

/** Trades a TradeBatch reply hands back for adoption at most; the leader asks again for more. */
export const missingTradesPageMax = uncommittedOrdersMax;

// Printable ASCII without `,` `"` `\`: a request id goes unquoted into the order log and the
// catalog journal (CSV), and a backslash is refused so that no reader has to wonder about escapes.
const requestIdPattern = /^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$/;

/** Why a request id cannot be used, or undefined when it can. The one rule of every service. */
export function requestIdProblem(requestId: string): string | undefined {
  if (requestId.length === 0) return "request_id is empty";
  if (Buffer.byteLength(requestId, "utf8") > requestIdBytesMax) return `request_id is longer than ${requestIdBytesMax} bytes`;
  if (!requestIdPattern.test(requestId)) return 'request_id must be printable ASCII without , " \\';
  return undefined;
}

/** Why a stock name is not worth looking up or trading (empty or oversized), or undefined. */
export function stockNameSizeProblem(name: string): string | undefined {
  if (name.length === 0) return "name is empty";
  if (Buffer.byteLength(name, "utf8") > stockNameBytesMax) return `name is longer than ${stockNameBytesMax} bytes`;
  return undefined;
}

/** Why a quantity cannot be ordered, or undefined when it can. */
export function orderQuantityProblem(quantity: number): string | undefined {
  if (!Number.isSafeInteger(quantity) || quantity < 1 || quantity > orderQuantityMax) {
    return `quantity must be an integer from 1 to ${orderQuantityMax}`;
  }
  return undefined;
}

assert(uncommittedOrdersMax >= 2 * tradeBatchMax, "two batches can be in flight");
assert(placeBatchMax <= tradeBatchMax, "one PlaceBatch fits into one TradeBatch");
assert(missingTradesPageMax >= 1, "adoption makes progress");
assert(Number.isSafeInteger(orderQuantityMax), "quantities stay exact");
assert(stockNameBytesMax >= 1 && requestIdBytesMax >= 36, "a name and a UUID fit");
