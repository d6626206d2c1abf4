// The gRPC clients an order replica uses: the catalog (TradeBatch, as calls on one long-lived
// stream) and each peer replica (Append on a stream, RequestVote unary). The shell
// (shell.ts) calls them with the deadlines in limits.ts; the unit tests plug in-process fakes
// into the same interfaces. Failures are grpc-js ServiceErrors (a `code` from grpc.status).

import type { Replica } from "../lib/config.ts";
import { formatHostPort } from "../lib/config.ts";
import type { HostPort } from "../lib/config.ts";
import { callUnary, channelOptions, grpc, isServiceError } from "../lib/grpc.ts";
import { StreamCaller } from "../lib/stream_calls.ts";
import { CatalogClient } from "../gen/catalog.ts";
import type { TradeBatchReply, TradeBatchRequest } from "../gen/catalog.ts";
import { OrderClient } from "../gen/order.ts";
import type { AppendReply, AppendRequest, VoteReply, VoteRequest } from "../gen/order.ts";
import type { CatalogRefusal } from "./core.ts";

export interface CatalogPort {
  /** Apply and number trades after the leader's log (catalog/sequence.ts); see protos/catalog.proto. */
  tradeBatch(request: TradeBatchRequest, timeoutMs: number): Promise<TradeBatchReply>;
  close(): void;
}

export interface PeerPort {
  readonly id: number;
  append(request: AppendRequest, timeoutMs: number): Promise<AppendReply>;
  requestVote(request: VoteRequest, timeoutMs: number): Promise<VoteReply>;
  close(): void;
}

/** The gRPC status of a failed call, or undefined for anything else. */
export function statusOf(err: unknown): grpc.status | undefined {
  return isServiceError(err) ? err.code : undefined;
}

const refusals: Partial<Record<grpc.status, CatalogRefusal>> = {
  [grpc.status.FAILED_PRECONDITION]: "stale",
  [grpc.status.RESOURCE_EXHAUSTED]: "window",
  [grpc.status.INVALID_ARGUMENT]: "invalid",
  [grpc.status.DATA_LOSS]: "ahead",
  [grpc.status.OUT_OF_RANGE]: "forgotten",
};

/** How the catalog refused a TradeBatch, or undefined when the outcome is unknown (down, deadline). */
export function catalogRefusal(err: unknown): CatalogRefusal | undefined {
  const code = statusOf(err);
  return code === undefined ? undefined : refusals[code];
}

export function grpcCatalog(addr: HostPort): CatalogPort {
  const client = new CatalogClient(formatHostPort(addr), grpc.credentials.createInsecure(), channelOptions);
  const tradeBatches = new StreamCaller<TradeBatchRequest, TradeBatchReply>(() => client.tradeBatches());
  return {
    tradeBatch: (request, timeoutMs) => tradeBatches.call(request, timeoutMs),
    close: () => {
      tradeBatches.close();
      client.close();
    },
  };
}

export function grpcPeer(replica: Replica): PeerPort {
  const client = new OrderClient(formatHostPort(replica.addr), grpc.credentials.createInsecure(), channelOptions);
  const appends = new StreamCaller<AppendRequest, AppendReply>(() => client.appends());
  return {
    id: replica.id,
    append: (request, timeoutMs) => appends.call(request, timeoutMs),
    requestVote: (request, timeoutMs) => callUnary<VoteRequest, VoteReply>(client, client.requestVote, request, timeoutMs),
    close: () => {
      appends.close();
      client.close();
    },
  };
}
