// Concurrent trades through the frontend with the time of every answer, for the failover
// experiment: the same seeded orders as test/support/load.ts (each with its own
// Idempotency-Key, sells a little more often than buys so stocks do not run dry), but every
// acknowledged order also records when it was sent and answered, so gaps can be measured.

import * as http from "node:http";
import { seededRandom } from "../client/client.ts";
import { initialStocks } from "../catalog/initial_stocks.ts";
import { requestJson } from "../test/support/http.ts";
import { sleep } from "../lib/sleep.ts";
import type { Acked } from "../test/support/load.ts";

/** After a failed request (no HTTP answer) a worker waits this long before the next one. */
const errorBackoffMs = 10;

export type TimedAck = Acked & { readonly sentMs: number; readonly answeredMs: number };
export type TimedError = { readonly atMs: number; readonly message: string };

export class TimedTradeLoad {
  readonly acked: TimedAck[] = [];
  /** 409 insufficient quantity: an answer the API promises, counted apart from errors. */
  rejected = 0;
  readonly errors: TimedError[] = [];
  private running = true;
  private readonly workers: Promise<void>[] = [];
  private readonly t0: number;

  /** Times are milliseconds since `t0` (a performance.now() value). */
  constructor(base: string, concurrency: number, seed: number, t0: number) {
    this.t0 = t0;
    for (let w = 0; w < concurrency; w++) this.workers.push(this.worker(base, w, seed));
  }

  now(): number {
    return performance.now() - this.t0;
  }

  private async worker(base: string, w: number, seed: number): Promise<void> {
    const random = seededRandom(seed * 1000 + w);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const stocks = initialStocks.map((s) => s.name);
    for (let i = 0; this.running; i++) {
      const name = stocks[Math.floor(random() * stocks.length)] as string;
      const type = random() < 0.45 ? "buy" : "sell";
      const quantity = 1 + Math.floor(random() * 3);
      const key = `bench-${seed}-${w}-${i}`;
      const sentMs = this.now();
      try {
        const reply = await requestJson(base, "POST", "/orders", { name, type, quantity }, { "idempotency-key": key }, agent);
        const answeredMs = this.now();
        if (reply.status === 200) this.acked.push({ number: reply.body.data.transaction_number, name, type, quantity, key, sentMs, answeredMs });
        else if (reply.status === 409) this.rejected++;
        else this.errors.push({ atMs: answeredMs, message: `${key}: HTTP ${reply.status} ${JSON.stringify(reply.body)}` });
      } catch (err) {
        this.errors.push({ atMs: this.now(), message: `${key}: ${String(err)}` });
        await sleep(errorBackoffMs);
      }
    }
    agent.destroy();
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
