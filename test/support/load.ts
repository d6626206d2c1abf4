// A bounded stream of concurrent trades through the frontend for fault tests: seeded random
// orders, each with its own Idempotency-Key, every acknowledged order recorded. Errors a
// client would see are recorded too (a failover should produce none).

import * as http from "node:http";
import { seededRandom } from "../../client/client.ts";
import { initialStocks } from "../../catalog/initial_stocks.ts";
import { requestJson } from "./http.ts";
import { sleep } from "../../lib/sleep.ts";

export type Acked = { number: number; name: string; type: "buy" | "sell"; quantity: number; key: string };

export class TradeLoad {
  readonly acked: Acked[] = [];
  readonly rejected: string[] = [];
  readonly errors: string[] = [];
  private running = true;
  private readonly workers: Promise<void>[] = [];

  constructor(base: string, concurrency: number, seed: number, stocks: readonly string[] = initialStocks.map((s) => s.name)) {
    for (let w = 0; w < concurrency; w++) this.workers.push(this.worker(base, w, seed, stocks));
  }

  private async worker(base: string, w: number, seed: number, stocks: readonly string[]): Promise<void> {
    const random = seededRandom(seed * 1000 + w);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; this.running; i++) {
      const name = stocks[Math.floor(random() * stocks.length)] as string;
      // Sells slightly more often than buys so stocks do not run dry during long runs.
      const type = random() < 0.45 ? "buy" : "sell";
      const quantity = 1 + Math.floor(random() * 3);
      const key = `load-${seed}-${w}-${i}`;
      try {
        const reply = await requestJson(base, "POST", "/orders", { name, type, quantity }, { "idempotency-key": key }, agent);
        if (reply.status === 200) this.acked.push({ number: reply.body.data.transaction_number, name, type, quantity, key });
        else if (reply.status === 409) this.rejected.push(key);
        else this.errors.push(`${key}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
      } catch (err) {
        this.errors.push(`${key}: ${String(err)}`);
        await sleep(10);
      }
    }
    agent.destroy();
  }

  /** Resolves once at least `n` orders are acknowledged in total. */
  async waitAcked(n: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.acked.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.acked.length} of ${n} orders acknowledged in ${timeoutMs} ms; errors: ${this.errors.slice(0, 5).join("; ")}`);
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}
