// The public REST API (docs/api.md): the route table, request validation and the JSON
// shapes. Errors are thrown as ApiError and turned into responses in one place (errors.ts).

import { createHash, randomUUID } from "node:crypto";
import type { Logger } from "../lib/log.ts";
import type { HttpRequest } from "./http/parser.ts";
import { jsonResponse } from "./http/response.ts";
import type { HttpResponse } from "./http/response.ts";
import { badRequest, errorResponse, methodNotAllowed, notFound } from "./errors.ts";
import type { OrderGateway, OrderType } from "./order_gateway.ts";
import { assert } from "../lib/assert.ts";
import { orderQuantityMax, requestIdProblem, stockNameBytesMax } from "../lib/protocol.ts";
import { idempotencyKeyBytesMax } from "./limits.ts";

export type StockView = { name: string; price: number; quantity: number; volume: number; version: number };

/** The lookup side the API needs: the cache-backed stock reader implements it. */
export interface StockLookup {
  lookup(name: string): Promise<StockView | undefined>;
  /** Called after a trade on `name` was acknowledged, so the next lookup cannot be stale. */
  tradeDone(name: string): Promise<void> | void;
}

export type ApiDeps = {
  readonly stocks: StockLookup;
  readonly orders: OrderGateway;
  readonly health: () => Promise<{ ok: boolean; body: unknown }>;
  /** GET /metrics: the Prometheus exposition (frontend/metrics.ts). */
  readonly metrics: () => Promise<HttpResponse>;
  readonly log: Logger;
};

type Route = {
  readonly pattern: RegExp;
  readonly methods: Readonly<Record<string, (req: HttpRequest, param: string) => Promise<HttpResponse>>>;
};

export function createApi(deps: ApiDeps): (req: HttpRequest) => Promise<HttpResponse> {
  const routes: Route[] = [
    { pattern: /^\/stocks\/([^/]+)$/, methods: { GET: (_req, name) => getStock(deps, name) } },
    { pattern: /^\/orders$/, methods: { POST: (req) => postOrder(deps, req) } },
    { pattern: /^\/orders\/([^/]+)$/, methods: { GET: (_req, number) => getOrder(deps, number) } },
    { pattern: /^\/health$/, methods: { GET: () => getHealth(deps) } },
    { pattern: /^\/metrics$/, methods: { GET: () => deps.metrics() } },
  ];
  return async (req) => {
    try {
      for (const route of routes) {
        const match = route.pattern.exec(req.path);
        if (!match) continue;
        const handler = route.methods[req.method];
        if (!handler) throw methodNotAllowed(Object.keys(route.methods));
        return await handler(req, match[1] ?? "");
      }
      throw notFound("not found");
    } catch (err) {
      return errorResponse(err, deps.log);
    }
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest("path segment is not valid percent-encoding");
  }
}

async function getStock(deps: ApiDeps, segment: string): Promise<HttpResponse> {
  const name = decodeSegment(segment);
  if (Buffer.byteLength(name) > stockNameBytesMax) throw notFound("stock not found");
  const stock = await deps.stocks.lookup(name);
  if (!stock) throw notFound("stock not found");
  return jsonResponse(200, { data: { name: stock.name, price: stock.price, quantity: stock.quantity, volume: stock.volume } });
}

type OrderBody = { name: string; quantity: number; type: OrderType };

/** Validate a POST /orders body; every message names the field. */
export function parseOrderBody(body: Buffer): OrderBody {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    throw badRequest("body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw badRequest("body must be a JSON object");
  const { name, quantity, type } = value as Record<string, unknown>;
  if (typeof name !== "string" || name === "") throw badRequest("name must be a non-empty string");
  if (Buffer.byteLength(name) > stockNameBytesMax) throw badRequest(`name must be at most ${stockNameBytesMax} bytes`);
  if (typeof quantity !== "number" || !Number.isSafeInteger(quantity) || quantity <= 0) {
    throw badRequest("quantity must be a positive integer");
  }
  if (quantity > orderQuantityMax) throw badRequest(`quantity must be at most ${orderQuantityMax}`);
  if (type !== "buy" && type !== "sell") throw badRequest('type must be "buy" or "sell"');
  return { name, quantity, type };
}

/**
 * Every order gets a request id, so retries inside the system are idempotent. A client that
 * wants its own retries to be idempotent sends `Idempotency-Key`; the id also covers the order's
 * content, so reusing a key for a different order places a different order.
 */
export function requestIdFor(req: HttpRequest, order: OrderBody): string {
  const key = req.headers["idempotency-key"];
  const requestId = key === undefined ? randomUUID() : keyedRequestId(key, order);
  assert(requestIdProblem(requestId) === undefined, "a generated request id follows the shared rule");
  return requestId;
}

function keyedRequestId(key: string, order: OrderBody): string {
  if (key.length === 0 || key.length > idempotencyKeyBytesMax || !/^[\x21-\x7e]+$/.test(key)) {
    throw badRequest(`Idempotency-Key must be 1 to ${idempotencyKeyBytesMax} visible ASCII characters`);
  }
  const digest = createHash("sha256").update(`${key}\n${order.name}\n${order.type}\n${order.quantity}`).digest("base64url");
  return `k-${digest.slice(0, 32)}`;
}

async function postOrder(deps: ApiDeps, req: HttpRequest): Promise<HttpResponse> {
  const order = parseOrderBody(req.body);
  const requestId = requestIdFor(req, order);
  try {
    const number = await deps.orders.place({ requestId, ...order });
    return jsonResponse(200, { data: { transaction_number: number } });
  } finally {
    // Before the response is written, whatever the outcome (a timeout may still have traded):
    // drop the cached entry so a lookup after this response cannot return pre-trade data.
    await deps.stocks.tradeDone(order.name);
  }
}

async function getOrder(deps: ApiDeps, segment: string): Promise<HttpResponse> {
  if (!/^\d{1,16}$/.test(segment) || !Number.isSafeInteger(Number(segment))) {
    throw badRequest("order number must be a non-negative integer");
  }
  const order = await deps.orders.get(Number(segment));
  return jsonResponse(200, { data: { number: order.number, name: order.name, type: order.type, quantity: order.quantity } });
}

async function getHealth(deps: ApiDeps): Promise<HttpResponse> {
  const { ok, body } = await deps.health();
  if (!ok) return jsonResponse(503, { error: { code: 503, message: "cannot serve trades", details: body } });
  return jsonResponse(200, { data: body });
}
