// Cache misses to the catalog: Lookup calls on one long-lived Lookups stream (lib/stream_calls.ts),
// where a unary grpc-js call costs several times the CPU and latency. Concurrent lookups of one
// stock share a call, but never one sent before they began: at most one call per stock is in
// flight, and the lookups that arrive meanwhile wait together for the next call, sent when it
// ends. So every answer was read by the catalog after its lookup began — never older than a
// trade acknowledged, or an invalidation received, before the lookup — and the cache's ticket
// rules (cache.ts) hold for each lookup exactly as for a call of its own.

import type { LookupCall, LookupRequest, LookupResult, Stock } from "../../gen/catalog.ts";
import { assert } from "../../lib/assert.ts";
import { grpc, isServiceError } from "../../lib/grpc.ts";
import { callFailure, StreamCaller, streamCallsInFlightMax } from "../../lib/stream_calls.ts";
import type { StockView } from "./cache.ts";

/**
 * Stocks with a call in flight at once. The catalog runs at most streamCallsInFlightMax calls per
 * stream; a real catalog has tens of stocks, so only lookups of many unknown names at once reach
 * this bound, and the one past it is refused (UNAVAILABLE, a 503) rather than queued.
 */
export const lookupStocksInFlightMax = streamCallsInFlightMax;

type Waiter = {
  readonly resolve: (stock: StockView | undefined) => void;
  readonly reject: (err: Error) => void;
  readonly deadlineMs: number;
};

export type CatalogLookupsOptions = {
  /** Opens the Lookups stream, e.g. `() => client.lookups(metadata)`. */
  readonly open: () => grpc.ClientDuplexStream<LookupCall, LookupResult>;
  /** The deadline of every lookup; one value for all, so a call never outlives a waiter's deadline. */
  readonly timeoutMs: number;
};

export class CatalogLookups {
  private readonly caller: StreamCaller<LookupRequest, Stock>;
  private readonly timeoutMs: number;
  /** A key per stock with a call in flight; its value: the lookups waiting for the next call. */
  private readonly next = new Map<string, Waiter[]>();
  /** Calls sent so far (shared ones count once); tests read it. */
  calls = 0;

  constructor(options: CatalogLookupsOptions) {
    assert(Number.isSafeInteger(options.timeoutMs) && options.timeoutMs > 0, "a lookup deadline is a positive integer");
    this.caller = new StreamCaller(options.open);
    this.timeoutMs = options.timeoutMs;
  }

  /** The stock, or undefined when the catalog says NOT_FOUND; throws a gRPC-status error otherwise. */
  lookup(name: string): Promise<StockView | undefined> {
    const waiting = this.next.get(name);
    if (waiting !== undefined) {
      return new Promise((resolve, reject) => waiting.push({ resolve, reject, deadlineMs: Date.now() + this.timeoutMs }));
    }
    if (this.next.size >= lookupStocksInFlightMax) {
      return Promise.reject(callFailure(grpc.status.UNAVAILABLE, `more than ${lookupStocksInFlightMax} stocks looked up at once`));
    }
    this.next.set(name, []);
    const answer = this.send(name, this.timeoutMs);
    answer.then(() => this.callEnded(name), () => this.callEnded(name));
    return answer;
  }

  close(): void {
    this.caller.close();
  }

  private send(name: string, timeoutMs: number): Promise<StockView | undefined> {
    this.calls++;
    return this.caller.call({ name }, timeoutMs).then(toStockView, notFoundAsUndefined);
  }

  /**
   * The call for `name` ended: the lookups that waited for it get the next call. Its deadline is
   * the earliest waiter's: each waiter joined after the previous call began, so with one timeout
   * for all, no waiter's deadline passed before this point, and none passes during the call.
   */
  private callEnded(name: string): void {
    const waiters = this.next.get(name);
    assert(waiters !== undefined, "a call in flight has its entry");
    if (waiters.length === 0) {
      this.next.delete(name);
      return;
    }
    this.next.set(name, []);
    const first = waiters[0] as Waiter;
    const answer = this.send(name, Math.max(1, first.deadlineMs - Date.now()));
    answer.then(
      (stock) => {
        for (const waiter of waiters) waiter.resolve(stock);
        this.callEnded(name);
      },
      (err: Error) => {
        for (const waiter of waiters) waiter.reject(err);
        this.callEnded(name);
      },
    );
  }
}

function toStockView(stock: Stock): StockView {
  return { name: stock.name, price: stock.price, quantity: stock.quantity, volume: stock.volume, version: stock.version };
}

function notFoundAsUndefined(err: unknown): undefined {
  if (isServiceError(err) && err.code === grpc.status.NOT_FOUND) return undefined;
  throw err;
}
