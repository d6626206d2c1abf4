// Operating errors of an order replica: what peers, callers and the world can do to it. Each
// has a stable code; server.ts maps codes to gRPC statuses in one place. Bugs are assertion
// failures (lib/assert.ts), never OrderError.

export type OrderErrorCode =
  /** Place/Get on a replica that is not the leader, or Append to one that leads this epoch. */
  | "NOT_LEADER"
  /** Recovering or catching up before leading: retry shortly. */
  | "NOT_READY"
  /** A request from an epoch older than the one this replica accepted. */
  | "STALE_EPOCH"
  /** Append orders start after this replica's last number + 1. */
  | "GAP"
  /** The logs disagree over more than a deposed leader's batch: a person must look. */
  | "DIVERGED"
  | "NOT_FOUND"
  | "INVALID_ARGUMENT"
  /** A dependency (the catalog) is down, or leadership was lost mid-batch: retry. */
  | "UNAVAILABLE"
  /** Too many Place calls queued: retry later. */
  | "OVERLOADED";

export class OrderError extends Error {
  readonly code: OrderErrorCode;
  constructor(code: OrderErrorCode, message: string) {
    super(message);
    this.name = "OrderError";
    this.code = code;
  }
}

export function orderError(code: OrderErrorCode, message: string): OrderError {
  return new OrderError(code, message);
}
