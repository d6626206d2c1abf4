// The Order gRPC service in front of a ReplicaShell: each RPC is one line calling the shell, and
// toStatus is the one place where an internal error becomes a gRPC status. An assertion
// failure is a bug: it is rethrown outside the call so the process crashes loudly. Beside it,
// grpc.health.v1 (lib/grpc_health.ts) with the replica's serving rule, `replicaServing`.

import { AssertionError } from "../lib/assert.ts";
import { grpc, statusError, unaryHandler } from "../lib/grpc.ts";
import type { Logger } from "../lib/log.ts";
import { AppendOutcome, OrderClient } from "../gen/order.ts";
import type { AppendReply, AppendRequest, HealthReply, OrderServer, PlaceBatchRequest } from "../gen/order.ts";
import { GrpcHealth } from "../lib/grpc_health.ts";
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

/**
 * The leader's commit point as told by the Appends this replica accepted. A follower whose log
 * ends before it is catching up: it lacks orders a majority already holds.
 */
export class CatchUp {
  leaderCommit = -1;

  observe(request: AppendRequest, reply: AppendReply): AppendReply {
    // OK and GAP answer a well-formed Append of the leader this replica follows; the other
    // outcomes come from a deposed or impossible leader and say nothing about the commit point.
    if (reply.outcome === AppendOutcome.APPEND_OK || reply.outcome === AppendOutcome.APPEND_GAP) {
      this.leaderCommit = Math.max(this.leaderCommit, request.commitNumber);
    }
    return reply;
  }

  /** Committed orders a follower still lacks (0 for a leader or a candidate, or when caught up). */
  behind(h: HealthReply): number {
    return h.role === "follower" ? Math.max(0, this.leaderCommit - h.lastNumber) : 0;
  }
}

/**
 * grpc.health.v1's SERVING: the replica is ready in the protocol's sense (HealthReply.ready: an
 * established leader, or a follower; never after its disk failed) and, as a follower, not
 * catching up. A candidate or a leader still establishing its epoch is NOT_SERVING.
 */
export function replicaServing(h: HealthReply, catchUp: CatchUp): boolean {
  return h.ready && catchUp.behind(h) === 0;
}

export function replicaHealth(shell: ReplicaShell, catchUp: CatchUp): GrpcHealth {
  return new GrpcHealth({ services: [OrderClient.serviceName], ready: () => replicaServing(shell.health(), catchUp) });
}

/**
 * `streams` carries PlaceBatches and Appends; the caller ends them at shutdown (closeAll).
 * `catchUp` learns the leader's commit point from every Append answered.
 */
export function orderService(shell: ReplicaShell, logger: Logger, streams: StreamCallServer, catchUp = new CatchUp()): OrderServer {
  const append = (r: AppendRequest): Promise<AppendReply> => shell.append(r).then((reply) => catchUp.observe(r, reply));
  return {
    place: unary(logger, "Place", (r) => shell.place(r)),
    placeBatch: unary(logger, "PlaceBatch", (r) => shell.placeBatch(r)),
    get: unary(logger, "Get", (r) => shell.get(r)),
    health: unary(logger, "Health", async () => shell.health()),
    setLeader: unary(logger, "SetLeader", (r) => shell.setLeader(r)),
    requestVote: unary(logger, "RequestVote", (r) => shell.requestVote(r)),
    append: unary(logger, "Append", append),
    placeBatches: streams.handler((r: PlaceBatchRequest) => shell.placeBatch(r), (err) => failureStatus(logger, "PlaceBatches", err)),
    appends: streams.handler(append, (err) => failureStatus(logger, "Appends", err)),
  };
}
