// Operating errors of an order replica: what peers, callers and the world can do to it. Each
// has a stable code; server.ts maps codes to gRPC statuses in one place. Bugs are assertion
// failures (lib/assert.ts), never OrderError.

export type OrderErrorCode =
  /** Place/Get on a replica that is not the leader (or no longer: the leadership ended). */
  | "NOT_LEADER"
  /** Elected, but its log is not on a majority yet: retry shortly. */
  | "NOT_READY"
  /** SetLeader for an epoch older than this replica's, or one it voted for another replica in. */
  | "STALE_EPOCH"
  | "NOT_FOUND"
  | "INVALID_ARGUMENT"
  /** The catalog or a majority did not answer in time, the disk failed, or shutting down: retry. */
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
