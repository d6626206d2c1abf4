// The load-and-verify client (README "Tests"), as a library (client/run.ts is its CLI and the
// benchmarks call it directly). Each session keeps ONE keep-alive connection: look up a random
// stock; if its quantity > 0, with probability p trade it on the same connection; record every
// successful order; at the end read every recorded order back and compare.

import { randomUUID } from "node:crypto";
import * as http from "node:http";
import { initialStocks } from "../catalog/initial_stocks.ts";

/** Per-request deadline: a request that takes longer counts as an error. */
export const clientRequestTimeoutMs = 15_000;
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
export type RecordedOrder = { number: number; name: string; type: "buy" | "sell"; quantity: number };

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

type Reply = { status: number; body: unknown };

function request(
  agent: http.Agent,
  opts: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({
      host: opts.host,
      port: opts.port,
      method,
      path,
      agent,
      timeout: clientRequestTimeoutMs,
      headers: payload === undefined
        ? headers
        : { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(new Error(`${method} ${path}: response is not JSON: ${text.slice(0, 200)}`));
        }
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no response within ${clientRequestTimeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
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
  const value = await fn();
  samples.push(performance.now() - start);
  return value;
}

async function runSession(opts: ClientOptions, runId: string, index: number, state: SessionState): Promise<void> {
  const random = seededRandom(opts.seed * 7919 + index);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < opts.iterations; i++) {
      const name = opts.stocks[Math.floor(random() * opts.stocks.length)] as string;
      const tradeRoll = random();
      const type = random() < 0.5 ? "buy" : "sell";
      const quantity = 1 + Math.floor(random() * clientTradeQuantityMax);
      const look = await timed(state.lookup, () => request(agent, opts, "GET", `/stocks/${encodeURIComponent(name)}`));
      if (look.status !== 200) {
        state.errors.push(`lookup ${name}: HTTP ${look.status} ${JSON.stringify(look.body)}`);
        continue;
      }
      const stock = (look.body as { data: { quantity: number } }).data;
      if (!(stock.quantity > 0) || tradeRoll >= opts.p) continue;
      const order = { name, quantity, type };
      // The run id keeps a rerun with the same seed from replaying the earlier run's orders.
      const key = `${runId}-${index}-${i}`;
      const reply = await timed(state.trade, () => request(agent, opts, "POST", "/orders", order, { "idempotency-key": key }));
      if (reply.status === 200) {
        const number = (reply.body as { data: { transaction_number: number } }).data.transaction_number;
        state.orders.push({ number, name, type, quantity });
      } else if (reply.status === 409) {
        state.rejected++;
      } else {
        state.errors.push(`trade ${JSON.stringify(order)}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
      }
    }
    for (const order of state.orders) {
      const reply = await timed(state.query, () => request(agent, opts, "GET", `/orders/${order.number}`));
      const got = (reply.body as { data?: RecordedOrder }).data;
      const same = reply.status === 200 && got !== undefined && got.number === order.number && got.name === order.name &&
        got.type === order.type && got.quantity === order.quantity;
      if (!same) {
        state.mismatches.push(
          `order ${order.number}: expected ${JSON.stringify(order)}, got HTTP ${reply.status} ${JSON.stringify(reply.body)}`,
        );
      }
    }
  } catch (err) {
    state.errors.push(`session ${index}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    agent.destroy();
  }
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
