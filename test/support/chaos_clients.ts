// The trading clients of the chaos command: each has one keep-alive connection to one frontend
// and trades seeded random orders, each with its own Idempotency-Key. A 503 or a broken
// connection is retried with the same key a bounded number of times, then the outcome is
// unknown. After every acknowledged trade the client reads the stock back through the same
// frontend (read-your-writes: the volume must include the trade). It records what it was told;
// it does not judge the order log (chaos_check.ts does).

import { seededRandom } from "../../client/client.ts";
import { ConflictError, StockBazaarClient, StockBazaarError, UnavailableError } from "../../client/stock_bazaar_client.ts";
import { initialStocks } from "../../catalog/initial_stocks.ts";
import { requestIdFor } from "../../frontend/api.ts";
import type { HttpRequest } from "../../frontend/http/parser.ts";
import { sleep } from "../../lib/sleep.ts";
import { testRequestTimeoutMs } from "./http.ts";

export type OrderType = "buy" | "sell";
export type Order = { readonly name: string; readonly type: OrderType; readonly quantity: number };
export type Violation = { readonly kind: string; readonly detail: string };
export type AckedOrder = Order & { readonly key: string; readonly requestId: string; readonly number: number; readonly via: string };
export type PendingOrder = Order & { readonly key: string; readonly requestId: string };

/** Attempts of one order (the first and its retries), then its outcome is unknown. */
export const orderAttemptsMax = 6;
/** Backoff before retry n is min(first · 2^(n−1), max): 250, 500, 1000, 2000, 2000 ms. */
export const retryBackoffMsFirst = 250;
export const retryBackoffMsMax = 2_000;
/** Reads after a trade tried this many times before the check is skipped (a 503 is no violation). */
const rywReadAttemptsMax = 4;
const rywReadBackoffMs = 100;
/** Orders are small so the 100-share stocks rarely run dry; sells a bit likelier than buys. */
const tradeQuantityMax = 3;
const buyProbability = 0.45;

/** The request id the frontend derives from a key and an order (frontend/api.ts), for finding acked orders in the log. */
export function requestIdOf(key: string, order: Order): string {
  // requestIdFor reads only the Idempotency-Key header of the request.
  const request = { headers: { "idempotency-key": key } } as unknown as HttpRequest;
  return requestIdFor(request, order);
}

/** Every 5xx must be a 503 that says when to come back; an answer with any other error status is unexpected here. */
export function failureViolation(what: string, err: unknown): Violation | undefined {
  // No answer at all (connection refused or reset, deadline): the outcome is unknown, not wrong.
  if (!(err instanceof StockBazaarError) || err.status === undefined) return undefined;
  if (err instanceof UnavailableError && err.retryAfterSeconds !== undefined) return undefined;
  if (err.status >= 500) {
    const retryAfter = err instanceof UnavailableError ? "missing" : "n/a";
    return { kind: "http-5xx", detail: `${what}: HTTP ${err.status} (retry-after ${retryAfter}) ${err.message}` };
  }
  return { kind: "http-status", detail: `${what}: unexpected HTTP ${err.status} ${err.message}` };
}

export type PlaceOutcome =
  | { readonly kind: "acked"; readonly number: number; readonly attempts: number }
  | { readonly kind: "refused"; readonly attempts: number }
  | { readonly kind: "unknown"; readonly attempts: number; readonly last: string };

/**
 * POST one order with its key until it is acknowledged or refused, retrying 503s and connection
 * errors (timeouts included) with the same key while `mayRetry()` says so and attempts remain.
 */
export async function placeOrder(
  client: StockBazaarClient,
  order: Order,
  key: string,
  attemptsMax: number,
  mayRetry: () => boolean,
  violations: Violation[],
): Promise<PlaceOutcome> {
  let last = "";
  for (let attempt = 1;; attempt++) {
    try {
      const reply = await client.trade({ ...order, idempotencyKey: key });
      return { kind: "acked", number: reply.data.transactionNumber, attempts: attempt };
    } catch (err) {
      if (err instanceof ConflictError) return { kind: "refused", attempts: attempt };
      const bad = failureViolation(`POST /orders key ${key}`, err);
      if (bad) violations.push(bad);
      last = err instanceof StockBazaarError && err.status !== undefined ? `HTTP ${err.status}` : String(err);
      // Only a 503 with Retry-After or no answer says "try again"; any other answer is a violation
      // (failureViolation) and ends the order.
      if (bad) return { kind: "unknown", attempts: attempt, last };
    }
    if (attempt >= attemptsMax || !mayRetry()) return { kind: "unknown", attempts: attempt, last };
    await sleep(Math.min(retryBackoffMsFirst * 2 ** (attempt - 1), retryBackoffMsMax));
  }
}

export type ClientResults = {
  readonly acked: AckedOrder[];
  readonly refused: PendingOrder[];
  readonly unknown: PendingOrder[];
  readonly violations: Violation[];
  retries: number;
  rywChecks: number;
  rywSkipped: number;
};

export function emptyResults(): ClientResults {
  return { acked: [], refused: [], unknown: [], violations: [], retries: 0, rywChecks: 0, rywSkipped: 0 };
}

export type ClientPlan = {
  readonly index: number;
  readonly seed: number;
  readonly url: string;
  readonly via: string;
  /** New orders start only while this is true. */
  readonly trading: () => boolean;
  /** Retries of an order already started are allowed while this is true (a grace after trading). */
  readonly retrying: () => boolean;
};

/** One client's loop; appends to `out` as it goes, so a caller sees partial results on error. */
export async function runClient(plan: ClientPlan, out: ClientResults): Promise<void> {
  const random = seededRandom(plan.seed);
  // One keep-alive connection, and the tests' request deadline.
  const client = new StockBazaarClient({ baseUrl: plan.url, deadlineMs: testRequestTimeoutMs, connectionsMax: 1 });
  /** The highest volume this client has read per stock. */
  const volumeSeen = new Map<string, number>();
  try {
    for (let i = 0; plan.trading(); i++) {
      const name = initialStocks[Math.floor(random() * initialStocks.length)]?.name as string;
      const order: Order = {
        name,
        type: random() < buyProbability ? "buy" : "sell",
        quantity: 1 + Math.floor(random() * tradeQuantityMax),
      };
      const key = `chaos-${plan.seed}-${plan.index}-${i}`;
      const pending = { ...order, key, requestId: requestIdOf(key, order) };
      const outcome = await placeOrder(client, order, key, orderAttemptsMax, plan.retrying, out.violations);
      out.retries += outcome.attempts - 1;
      if (outcome.kind === "refused") out.refused.push(pending);
      if (outcome.kind === "unknown") out.unknown.push(pending);
      if (outcome.kind !== "acked") continue;
      out.acked.push({ ...pending, number: outcome.number, via: plan.via });
      await checkReadYourWrites(client, plan, order, outcome.number, volumeSeen, out);
    }
  } finally {
    client.close();
  }
}

/** After a 200: the stock read through the same frontend must show a volume ≥ highest seen before + the trade. */
async function checkReadYourWrites(
  client: StockBazaarClient,
  plan: ClientPlan,
  order: Order,
  number: number,
  volumeSeen: Map<string, number>,
  out: ClientResults,
): Promise<void> {
  const before = volumeSeen.get(order.name) ?? 0;
  for (let attempt = 1; attempt <= rywReadAttemptsMax; attempt++) {
    let volume: number;
    try {
      volume = (await client.lookup(order.name)).data.volume;
    } catch (err) {
      // A 503 or no answer is retried; any other failure is a violation too.
      const bad = failureViolation(`GET /stocks/${order.name}`, err);
      if (bad) out.violations.push(bad);
      await sleep(rywReadBackoffMs);
      continue;
    }
    out.rywChecks++;
    if (volume < before + order.quantity) {
      out.violations.push({
        kind: "read-your-writes",
        detail:
          `client ${plan.index} via ${plan.via}: after order ${number} (${order.type} ${order.quantity} ${order.name}) read volume ${volume} < ${before} seen before + ${order.quantity}`,
      });
    }
    volumeSeen.set(order.name, Math.max(before, volume));
    return;
  }
  out.rywSkipped++;
}
