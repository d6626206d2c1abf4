// The gRPC face of the catalog: each handler unpacks its request, calls the store or the
// invalidation hub, and answers. TradeBatch, unary or as a call on the TradeBatches stream,
// passes its header (epoch, leader id, after_number, commit_number) and trades to the store
// alike; so does Lookup, unary (grpcurl, any client) or on the Lookups stream (the frontend). Typed errors become gRPC statuses in exactly one function, `toStatus`; anything else
// is a bug and is rethrown, which crashes the process loudly.

import type { CatalogServer, LookupRequest, Stock, TradeBatchReply, TradeBatchRequest } from "../gen/catalog.ts";
import type { StreamCallServer } from "../lib/stream_calls.ts";
import { grpc, statusError, unaryHandler } from "../lib/grpc.ts";
import { sleep } from "../lib/sleep.ts";
import {
  ForgottenTradesError,
  InvalidArgumentError,
  OverloadedError,
  SequenceAheadError,
  StaleEpochError,
  StockNotFoundError,
  StorageError,
  StoreClosedError,
  UncommittedWindowError,
} from "./errors.ts";
import type { InvalidationHub } from "./invalidations.ts";
import type { Store } from "./store.ts";

export type CatalogServerOptions = {
  /** Carries TradeBatches and Lookups; the caller ends its streams at shutdown (closeAll). */
  readonly streams: StreamCallServer;
  /**
   * TEST ONLY (CATALOG_LOOKUP_DELAY_MS): hold each Lookup reply this long after the state
   * was read and the read lock released, so a test can make a lookup that started before a
   * trade answer after that trade's invalidation. 0 in production.
   */
  readonly lookupDelayMs: number;
};

/** The gRPC status for an operating error; rethrows anything else (a bug). */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof InvalidArgumentError) return statusError(grpc.status.INVALID_ARGUMENT, err.message);
  if (err instanceof StockNotFoundError) return statusError(grpc.status.NOT_FOUND, err.message);
  if (err instanceof OverloadedError) return statusError(grpc.status.RESOURCE_EXHAUSTED, err.message);
  if (err instanceof UncommittedWindowError) return statusError(grpc.status.RESOURCE_EXHAUSTED, err.message);
  if (err instanceof StaleEpochError) return statusError(grpc.status.FAILED_PRECONDITION, err.message);
  if (err instanceof SequenceAheadError) return statusError(grpc.status.DATA_LOSS, err.message);
  if (err instanceof ForgottenTradesError) return statusError(grpc.status.OUT_OF_RANGE, err.message);
  if (err instanceof StoreClosedError) return statusError(grpc.status.UNAVAILABLE, err.message);
  if (err instanceof StorageError) return statusError(grpc.status.UNAVAILABLE, err.message);
  throw err;
}

/** The header and trades of a TradeBatch, unary or on the stream. */
function tradeBatch(store: Store, request: TradeBatchRequest): Promise<TradeBatchReply> {
  const { epoch, leaderId, afterNumber, commitNumber } = request;
  return store.tradeBatch({ epoch, leaderId, afterNumber, commitNumber }, request.trades);
}

async function lookup(store: Store, name: string, delayMs: number): Promise<Stock> {
  const stock = await store.lookup(name);
  if (delayMs > 0) await sleep(delayMs);
  return stock;
}

export function createCatalogServer(store: Store, hub: InvalidationHub, options: CatalogServerOptions): CatalogServer {
  return {
    lookup: unaryHandler((request) => lookup(store, request.name, options.lookupDelayMs), toStatus),
    tradeBatch: unaryHandler((request) => tradeBatch(store, request), toStatus),
    invalidations(call) {
      try {
        hub.subscribe(call);
      } catch (err) {
        call.emit("error", toStatus(err));
      }
    },
    tradeBatches: options.streams.handler((request: TradeBatchRequest) => tradeBatch(store, request), toStatus),
    lookups: options.streams.handler((request: LookupRequest) => lookup(store, request.name, options.lookupDelayMs), toStatus),
    health: unaryHandler(() =>
      store.health().then((h) => ({
        stocks: h.stocks,
        subscribers: hub.size,
        tradesApplied: h.tradesApplied,
        lastNumber: h.lastNumber,
        epoch: h.epoch,
      })), toStatus),
  };
}
