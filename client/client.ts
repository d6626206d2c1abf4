// The load-and-verify client (README "Tests"), as a library (client/run.ts is its CLI and the
// benchmarks call it directly). Each session is one StockBazaarClient with ONE keep-alive
// connection: look up a random stock; if its quantity > 0, with probability p trade it on the same
// connection; record every successful order; at the end read every recorded order back and compare.

import { randomUUID } from "node:crypto";
import { initialStocks } from "../catalog/initial_stocks.ts";
import { ConflictError, StockBazaarClient, StockBazaarError } from "./stock_bazaar_client.ts";
import type { Order } from "./stock_bazaar_client.ts";

/** Largest quantity one random trade uses. */
export const clientTradeQuantityMax = 5;

/** The stocks a fresh catalog starts with; `--stocks` overrides them for other deployments. */
export const defaultStockNames: readonly string[] = initialStocks.map((s) => s.name);

export type ClientOptions = {
  readonly host: string;
  readonly port: number;
  readonly p: number;
  readonly iterations: number;
  readonly sessions: number;
  readonly seed: number;
  readonly stocks: readonly string[];
};

export type LatencySummary = { count: number; meanMs: number; p50Ms: number; p99Ms: number };
export type RecordedOrder = Order;

export type ClientResult = {
  readonly options: ClientOptions;
  readonly latency: { lookup: LatencySummary; trade: LatencySummary; query: LatencySummary };
  readonly orders: number;
  readonly rejected: number;
  readonly errors: string[];
  readonly mismatches: string[];
  readonly verified: number;
};

/** mulberry32: a small seeded PRNG so a run can be repeated from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sample at quantile `q` (0..1) of ascending `sorted` samples (nearest rank); 0 when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}

export function summarize(samples: number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, meanMs: 0, p50Ms: 0, p99Ms: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return { count: sorted.length, meanMs: round(mean), p50Ms: round(percentile(sorted, 0.5)), p99Ms: round(percentile(sorted, 0.99)) };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

type SessionState = {
  lookup: number[];
  trade: number[];
  query: number[];
  orders: RecordedOrder[];
  rejected: number;
  errors: string[];
  mismatches: string[];
};

async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    samples.push(performance.now() - start);
  }
}

/** An answer the API promises (an HTTP error status) is recorded and the session goes on; no answer ends it. */
function answered(err: unknown): err is StockBazaarError {
  return err instanceof StockBazaarError && err.status !== undefined;
}

async function runSession(opts: ClientOptions, runId: string, index: number, state: SessionState): Promise<void> {
  const random = seededRandom(opts.seed * 7919 + index);
  const client = new StockBazaarClient({
    baseUrl: `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${opts.port}`,
    // The client's default deadline per request (clientDeadlineMsDefault): a longer one counts as an error.
    connectionsMax: 1,
  });
  try {
    for (let i = 0; i < opts.iterations; i++) {
      const name = opts.stocks[Math.floor(random() * opts.stocks.length)] as string;
      const tradeRoll = random();
      const type = random() < 0.5 ? "buy" : "sell";
      const quantity = 1 + Math.floor(random() * clientTradeQuantityMax);
      let available: number;
      try {
        available = (await timed(state.lookup, () => client.lookup(name))).data.quantity;
      } catch (err) {
        if (!answered(err)) throw err;
        state.errors.push(`lookup ${name}: ${err.message}`);
        continue;
      }
      if (!(available > 0) || tradeRoll >= opts.p) continue;
      // The run id keeps a rerun with the same seed from replaying the earlier run's orders.
      const order = { name, quantity, type, idempotencyKey: `${runId}-${index}-${i}` } as const;
      try {
        const number = (await timed(state.trade, () => client.trade(order))).data.transactionNumber;
        state.orders.push({ number, name, type, quantity });
      } catch (err) {
        if (err instanceof ConflictError) state.rejected++;
        else if (answered(err)) state.errors.push(`trade ${JSON.stringify(order)}: ${err.message}`);
        else throw err;
      }
    }
    for (const order of state.orders) await verify(client, order, state);
  } catch (err) {
    state.errors.push(`session ${index}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    client.close();
  }
}

/**
 * Read one recorded order back (GET /orders/{number}): undefined if it reads back as placed,
 * else the mismatch; an error the server answered is a mismatch, no answer throws.
 */
export async function mismatchOf(client: StockBazaarClient, order: RecordedOrder): Promise<string | undefined> {
  let got: string;
  try {
    const read = (await client.order(order.number)).data;
    if (read.number === order.number && read.name === order.name && read.type === order.type && read.quantity === order.quantity) {
      return undefined;
    }
    got = JSON.stringify(read);
  } catch (err) {
    if (!answered(err)) throw err;
    got = err.message;
  }
  return `order ${order.number}: expected ${JSON.stringify(order)}, got ${got}`;
}

/** Read one recorded order back, timed; anything but the same order is a mismatch. */
async function verify(client: StockBazaarClient, order: RecordedOrder, state: SessionState): Promise<void> {
  const mismatch = await timed(state.query, () => mismatchOf(client, order));
  if (mismatch !== undefined) state.mismatches.push(mismatch);
}

export async function runClient(opts: ClientOptions): Promise<ClientResult> {
  const states = Array.from(
    { length: opts.sessions },
    (): SessionState => ({ lookup: [], trade: [], query: [], orders: [], rejected: 0, errors: [], mismatches: [] }),
  );
  const runId = `c${opts.seed}-${randomUUID().slice(0, 8)}`;
  await Promise.all(states.map((s, i) => runSession(opts, runId, i, s)));
  const all = <K extends keyof SessionState>(k: K): SessionState[K][] => states.map((s) => s[k]);
  const orders = all("orders").flat();
  const numbers = new Set(orders.map((o) => o.number));
  const mismatches = all("mismatches").flat();
  if (numbers.size !== orders.length) mismatches.push(`${orders.length - numbers.size} transaction numbers were given to two orders`);
  return {
    options: opts,
    latency: { lookup: summarize(all("lookup").flat()), trade: summarize(all("trade").flat()), query: summarize(all("query").flat()) },
    orders: orders.length,
    rejected: all("rejected").reduce((a, b) => a + b, 0),
    errors: all("errors").flat(),
    mismatches,
    verified: orders.length - mismatches.length,
  };
}
