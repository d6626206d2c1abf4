// The one trade load of the tests and benchmarks: a bounded stream of concurrent trades through
// the frontend, seeded random orders, each with its own Idempotency-Key (sells a little more
// often than buys so stocks do not run dry). Every acknowledged order is recorded with when it
// was sent and answered (so a benchmark can measure gaps), and every error a client would see
// is recorded with when it happened (a failover should produce none).

import { seededRandom } from "../../client/client.ts";
import { ConflictError, StockBazaarClient, StockBazaarError } from "../../client/stock_bazaar_client.ts";
import { initialStocks } from "../../catalog/initial_stocks.ts";
import { sleep } from "../../lib/sleep.ts";
import { testRequestTimeoutMs } from "./http.ts";

/** After a failed request (no HTTP answer) a worker waits this long before the next one. */
const errorBackoffMs = 10;
/** How often waitAcked checks the count. */
const waitAckedPollMs = 5;

/** An acknowledged order; times are milliseconds since the load's t0. */
export type Acked = {
  readonly number: number;
  readonly name: string;
  readonly type: "buy" | "sell";
  readonly quantity: number;
  readonly key: string;
  readonly sentMs: number;
  readonly answeredMs: number;
};
export type LoadFailure = { readonly atMs: number; readonly message: string };

export type LoadOptions = {
  readonly stocks?: readonly string[];
  /** Idempotency-Keys are `<prefix>-<seed>-<worker>-<i>` (default "load"). */
  readonly keyPrefix?: string;
  /** The origin of every time recorded, a performance.now() value (default: when the load starts). */
  readonly t0?: number;
};

export class TradeLoad {
  readonly acked: Acked[] = [];
  /** 409 insufficient quantity: an answer the API promises, counted apart from errors. */
  readonly rejected: string[] = [];
  readonly failures: LoadFailure[] = [];
  private running = true;
  private readonly workers: Promise<void>[] = [];
  private readonly t0: number;

  constructor(base: string, concurrency: number, seed: number, options: LoadOptions = {}) {
    this.t0 = options.t0 ?? performance.now();
    const stocks = options.stocks ?? initialStocks.map((s) => s.name);
    const prefix = options.keyPrefix ?? "load";
    for (let w = 0; w < concurrency; w++) this.workers.push(this.worker(base, w, seed, stocks, prefix));
  }

  /** Milliseconds since t0. */
  now(): number {
    return performance.now() - this.t0;
  }

  /** What a client saw go wrong, as text. */
  get errors(): string[] {
    return this.failures.map((f) => f.message);
  }

  private async worker(base: string, w: number, seed: number, stocks: readonly string[], prefix: string): Promise<void> {
    const random = seededRandom(seed * 1000 + w);
    const client = new StockBazaarClient({ baseUrl: base, deadlineMs: testRequestTimeoutMs, connectionsMax: 1 });
    for (let i = 0; this.running; i++) {
      const name = stocks[Math.floor(random() * stocks.length)] as string;
      const type = random() < 0.45 ? "buy" : "sell";
      const quantity = 1 + Math.floor(random() * 3);
      const key = `${prefix}-${seed}-${w}-${i}`;
      const sentMs = this.now();
      try {
        const number = (await client.trade({ name, type, quantity, idempotencyKey: key })).data.transactionNumber;
        this.acked.push({ number, name, type, quantity, key, sentMs, answeredMs: this.now() });
      } catch (err) {
        if (err instanceof ConflictError) {
          this.rejected.push(key);
          continue;
        }
        // The client's message names the status ("HTTP 503: ...") or the network error (ECONNREFUSED ...).
        this.failures.push({ atMs: this.now(), message: `${key}: ${err instanceof Error ? err.message : String(err)}` });
        if (!(err instanceof StockBazaarError) || err.status === undefined) await sleep(errorBackoffMs);
      }
    }
    client.close();
  }

  /** Resolves once at least `n` orders are acknowledged in total. */
  async waitAcked(n: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.acked.length < n) {
      if (Date.now() > deadline) {
        throw new Error(
          `only ${this.acked.length} of ${n} orders acknowledged in ${timeoutMs} ms; errors: ${this.errors.slice(0, 5).join("; ")}`,
        );
      }
      await sleep(waitAckedPollMs);
    }
  }

  /** Stop sending; requests in flight finish on their own. Synchronous, for a Scope's killNow. */
  halt(): void {
    this.running = false;
  }

  async stop(): Promise<void> {
    this.halt();
    await Promise.all(this.workers);
  }
}
