// What an order replica needs from the outside world, as interfaces: the catalog (TradeBatch)
// and its peer replicas (Append, Since, Health). The gRPC implementations are here too; the
// unit tests plug in-process fakes into the same interfaces, so the leader and the recovery
// run without sockets. Failures are gRPC ServiceErrors (a `code` from grpc.status). The hot
// calls (TradeBatch, Append) go over one long-lived stream each (lib/stream_calls.ts).

import type { Replica } from "../lib/config.ts";
import { formatHostPort } from "../lib/config.ts";
import type { HostPort } from "../lib/config.ts";
import { callUnary, channelOptions, grpc, isServiceError } from "../lib/grpc.ts";
import { CatalogClient } from "../gen/catalog.ts";
import type { TradeBatchReply, TradeBatchRequest, TradeReply, TradeRequest } from "../gen/catalog.ts";
import { OrderClient } from "../gen/order.ts";
import { StreamCaller } from "../lib/stream_calls.ts";
import type { AppendReply, AppendRequest, HealthReply, HealthRequest, SinceReply, SinceRequest } from "../gen/order.ts";

export interface CatalogPort {
  /** Apply trades in order, each idempotent by request id; results[i] answers trades[i]. */
  tradeBatch(trades: TradeRequest[], timeoutMs: number): Promise<TradeReply[]>;
  close(): void;
}

export interface PeerPort {
  readonly id: number;
  append(request: AppendRequest, timeoutMs: number): Promise<AppendReply>;
  since(request: SinceRequest, timeoutMs: number): Promise<SinceReply>;
  health(timeoutMs: number): Promise<HealthReply>;
  close(): void;
}

/** The gRPC status of a failed call, or undefined for anything else. */
export function statusOf(err: unknown): grpc.status | undefined {
  return isServiceError(err) ? err.code : undefined;
}

export function errorText(err: unknown): string {
  if (isServiceError(err)) return `${grpc.status[err.code] ?? err.code}: ${err.details}`;
  return err instanceof Error ? err.message : String(err);
}

export function grpcCatalog(addr: HostPort): CatalogPort {
  const client = new CatalogClient(formatHostPort(addr), grpc.credentials.createInsecure(), channelOptions);
  // The hot path: TradeBatch as calls on one long-lived stream (lib/stream_calls.ts).
  const tradeBatches = new StreamCaller<TradeBatchRequest, TradeBatchReply>(() => client.tradeBatches());
  return {
    async tradeBatch(trades, timeoutMs) {
      const reply = await tradeBatches.call({ trades }, timeoutMs);
      return reply.results;
    },
    close: () => {
      tradeBatches.close();
      client.close();
    },
  };
}

export function grpcPeer(replica: Replica): PeerPort {
  const client = new OrderClient(formatHostPort(replica.addr), grpc.credentials.createInsecure(), channelOptions);
  // The hot path: Append as calls on one long-lived stream (lib/stream_calls.ts).
  const appends = new StreamCaller<AppendRequest, AppendReply>(() => client.appends());
  return {
    id: replica.id,
    append: (request, timeoutMs) => appends.call(request, timeoutMs),
    since: (request, timeoutMs) => callUnary<SinceRequest, SinceReply>(client, client.since, request, timeoutMs),
    health: (timeoutMs) => callUnary<HealthRequest, HealthReply>(client, client.health, {}, timeoutMs),
    close: () => {
      appends.close();
      client.close();
    },
  };
}
