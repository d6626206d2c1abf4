// The Order gRPC service in front of a ReplicaShell: each RPC is one line calling the shell, and
// toStatus is the one place where an internal error becomes a gRPC status. An assertion
// failure is a bug: it is rethrown outside the call so the process crashes loudly.

import { AssertionError } from "../lib/assert.ts";
import { grpc, statusError, unaryHandler } from "../lib/grpc.ts";
import type { Logger } from "../lib/log.ts";
import type { AppendRequest, OrderServer, PlaceBatchRequest } from "../gen/order.ts";
import type { StreamCallServer } from "../lib/stream_calls.ts";
import type { OrderErrorCode } from "./errors.ts";
import { OrderError } from "./errors.ts";
import type { ReplicaShell } from "./shell.ts";

const statusByCode: Record<OrderErrorCode, grpc.status> = {
  NOT_LEADER: grpc.status.FAILED_PRECONDITION,
  NOT_READY: grpc.status.UNAVAILABLE,
  STALE_EPOCH: grpc.status.FAILED_PRECONDITION,
  NOT_FOUND: grpc.status.NOT_FOUND,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
};

/** The gRPC status for an error a handler threw. */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof OrderError) return statusError(statusByCode[err.code], err.message);
  return statusError(grpc.status.INTERNAL, err instanceof Error ? err.message : String(err));
}

/** The status for a handler's error; an assertion failure also crashes the process (a bug). */
function failureStatus(logger: Logger, name: string, err: unknown, requestId?: string): Partial<grpc.StatusObject> {
  if (err instanceof AssertionError) {
    process.nextTick(() => {
      throw err;
    });
  }
  if (!(err instanceof OrderError)) logger.error("unexpected error in handler", { rpc: name, requestId, error: String(err) });
  return toStatus(err);
}

function unary<Req, Res>(logger: Logger, name: string, handler: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return unaryHandler(handler, (err, requestId) => failureStatus(logger, name, err, requestId));
}

/** `streams` carries PlaceBatches and Appends; the caller ends them at shutdown (closeAll). */
export function orderService(shell: ReplicaShell, logger: Logger, streams: StreamCallServer): OrderServer {
  return {
    place: unary(logger, "Place", (r) => shell.place(r)),
    placeBatch: unary(logger, "PlaceBatch", (r) => shell.placeBatch(r)),
    get: unary(logger, "Get", (r) => shell.get(r)),
    health: unary(logger, "Health", async () => shell.health()),
    setLeader: unary(logger, "SetLeader", (r) => shell.setLeader(r)),
    requestVote: unary(logger, "RequestVote", (r) => shell.requestVote(r)),
    append: unary(logger, "Append", (r) => shell.append(r)),
    placeBatches: streams.handler((r: PlaceBatchRequest) => shell.placeBatch(r), (err) => failureStatus(logger, "PlaceBatches", err)),
    appends: streams.handler((r: AppendRequest) => shell.append(r), (err) => failureStatus(logger, "Appends", err)),
  };
}
