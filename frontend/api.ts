// The public REST API (docs/api.md): the route table, request validation and the JSON
// shapes. Errors are thrown as ApiError and turned into responses in one place (errors.ts).

import { createHash, randomUUID } from "node:crypto";
import type { Logger } from "../lib/log.ts";
import type { HttpRequest } from "./http/parser.ts";
import { jsonContentType, jsonResponse } from "./http/response.ts";
import type { HttpResponse } from "./http/response.ts";
import { badRequest, errorResponse, methodNotAllowed, notFound } from "./errors.ts";
import { newLookupTiming } from "./cache/stock_reader.ts";
import type { LookupTiming } from "./cache/stock_reader.ts";
import { serverTiming } from "./server_timing.ts";
import type { TimingEntry } from "./server_timing.ts";
import type { OrderGateway, OrderType, PlaceOutcome } from "./order_gateway.ts";
import { assert } from "../lib/assert.ts";
import { orderQuantityMax, requestIdProblem, stockNameBytesMax } from "../lib/protocol.ts";
import { idempotencyKeyBytesMax } from "./limits.ts";
import { getOpenapi } from "./openapi.ts";

export type StockView = { name: string; price: number; quantity: number; volume: number; version: number };

/** The lookup side the API needs: the cache-backed stock reader implements it. */
export interface StockLookup {
  /** Fills in `timing` (for Server-Timing) as it goes, when given. */
  lookup(name: string, timing?: LookupTiming): Promise<StockView | undefined>;
  /** A cache hit answered in this JS turn, or undefined (then lookup()); see StockReader.cached. */
  cached(name: string, timing?: LookupTiming): StockView | undefined;
  /** Called after a trade on `name` was acknowledged, so the next lookup cannot be stale. */
  tradeDone(name: string): Promise<void> | void;
}

export type ApiDeps = {
  readonly stocks: StockLookup;
  readonly orders: OrderGateway;
  readonly health: () => Promise<{ ok: boolean; body: unknown }>;
  /** GET /metrics: the Prometheus exposition (frontend/metrics.ts). */
  readonly metrics: () => Promise<HttpResponse>;
  /** Told of every answered request: its route's label (never a stock name or number), method, status, start. */
  readonly observe: RequestObserver;
  readonly log: Logger;
};

/** `route` is the route's pattern as a label (`/stocks/{name}`), or "other" for an unknown path. */
export type RequestObserver = (route: string, method: string, status: number, startMs: number) => void;

/**
 * A handler may answer synchronously: the connection then writes without a promise hop.
 * `startMs` is when the API took the request (performance.now()), for Server-Timing's total.
 */
type RouteHandler = (req: HttpRequest, param: string, startMs: number) => HttpResponse | Promise<HttpResponse>;
type Route = {
  readonly pattern: RegExp;
  readonly label: string;
  readonly methods: Readonly<Record<string, RouteHandler>>;
};

/** RFC 9110 §9.3.2: HEAD wherever GET, with GET's headers (the connection drops the body). */
function handlerFor(route: Route, method: string): RouteHandler | undefined {
  // Own keys only: a method named "constructor" must not find Object.prototype's.
  if (Object.hasOwn(route.methods, method)) return route.methods[method];
  if (method === "HEAD" && Object.hasOwn(route.methods, "GET")) return route.methods["GET"];
  return undefined;
}

function allowedMethods(route: Route): string[] {
  const methods = Object.keys(route.methods);
  return methods.includes("GET") ? [...methods, "HEAD"] : methods;
}

export function createApi(deps: ApiDeps): (req: HttpRequest) => HttpResponse | Promise<HttpResponse> {
  const routes: Route[] = [
    { pattern: /^\/stocks\/([^/]+)$/, label: "/stocks/{name}", methods: { GET: (_req, name, startMs) => getStock(deps, name, startMs) } },
    { pattern: /^\/orders$/, label: "/orders", methods: { POST: (req, _param, startMs) => postOrder(deps, req, startMs) } },
    { pattern: /^\/orders\/([^/]+)$/, label: "/orders/{number}", methods: { GET: (req, number) => getOrder(deps, req, number) } },
    { pattern: /^\/health$/, label: "/health", methods: { GET: () => getHealth(deps) } },
    { pattern: /^\/openapi\.json$/, label: "/openapi.json", methods: { GET: getOpenapi } },
    { pattern: /^\/metrics$/, label: "/metrics", methods: { GET: () => deps.metrics() } },
  ];
  return (req) => {
    const startMs = performance.now();
    let label = "other";
    const answered = (res: HttpResponse): HttpResponse => {
      deps.observe(label, req.method, res.status, startMs);
      return res;
    };
    const failed = (err: unknown): HttpResponse => answered(errorResponse(err, deps.log, req.requestId));
    try {
      for (const route of routes) {
        const match = route.pattern.exec(req.path);
        if (!match) continue;
        label = route.label;
        const handler = handlerFor(route, req.method);
        if (!handler) throw methodNotAllowed(allowedMethods(route));
        const response = handler(req, match[1] ?? "", startMs);
        // A synchronous answer (a cache hit) stays synchronous: no promise hop for the metrics.
        return response instanceof Promise ? response.then(answered, failed) : answered(response);
      }
      throw notFound("not found");
    } catch (err) {
      return failed(err);
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

/**
 * Response bodies of the stocks the cache holds, made once per cached entry (a hit returns the
 * very object that was filled) and dropped with it: a hit serializes nothing.
 */
const stockBodies = new WeakMap<StockView, string>();

function stockBody(stock: StockView): string {
  let body = stockBodies.get(stock);
  if (body === undefined) {
    body = JSON.stringify({ data: { name: stock.name, price: stock.price, quantity: stock.quantity, volume: stock.volume } });
    stockBodies.set(stock, body);
  }
  return body;
}

/** Server-Timing of a lookup: the cache (hit, miss or bypass), the catalog call if one was made, the total. */
function lookupServerTiming(timing: LookupTiming, startMs: number): string {
  const entries: TimingEntry[] = [];
  if (timing.cache !== undefined) {
    entries.push(
      timing.cacheMs === undefined ? { name: "cache", desc: timing.cache } : { name: "cache", desc: timing.cache, durMs: timing.cacheMs },
    );
  }
  if (timing.catalogMs !== undefined) entries.push({ name: "catalog", durMs: timing.catalogMs });
  entries.push({ name: "total", durMs: performance.now() - startMs });
  return serverTiming(entries);
}

/** A cache hit is answered in the same JS turn; anything else waits for the catalog. */
function getStock(deps: ApiDeps, segment: string, startMs: number): HttpResponse | Promise<HttpResponse> {
  const name = segment.includes("%") ? decodeSegment(segment) : segment;
  if (Buffer.byteLength(name) > stockNameBytesMax) throw notFound("stock not found");
  const timing = newLookupTiming();
  const hit = deps.stocks.cached(name, timing);
  if (hit !== undefined) return stockResponse(hit, timing, startMs);
  return fetchStock(deps, name, timing, startMs);
}

async function fetchStock(deps: ApiDeps, name: string, timing: LookupTiming, startMs: number): Promise<HttpResponse> {
  const stock = await deps.stocks.lookup(name, timing);
  if (!stock) {
    const err = notFound("stock not found");
    err.headers["server-timing"] = lookupServerTiming(timing, startMs);
    throw err;
  }
  return stockResponse(stock, timing, startMs);
}

function stockResponse(stock: StockView, timing: LookupTiming, startMs: number): HttpResponse {
  const headers = { "content-type": jsonContentType, "server-timing": lookupServerTiming(timing, startMs) };
  return { status: 200, headers, body: stockBody(stock) };
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

async function postOrder(deps: ApiDeps, req: HttpRequest, startMs: number): Promise<HttpResponse> {
  const order = parseOrderBody(req.body);
  const requestId = requestIdFor(req, order);
  let placed: PlaceOutcome;
  try {
    placed = await deps.orders.place({ requestId, ...order }, { traceId: req.requestId });
  } finally {
    // Before the response is written, whatever the outcome (a timeout may still have traded):
    // drop the cached entry so a lookup after this response cannot return pre-trade data.
    await deps.stocks.tradeDone(order.name);
  }
  const timing = serverTiming([...placed.phases, { name: "total", durMs: performance.now() - startMs }]);
  return jsonResponse(200, { data: { transaction_number: placed.number } }, { "server-timing": timing });
}

async function getOrder(deps: ApiDeps, req: HttpRequest, segment: string): Promise<HttpResponse> {
  if (!/^\d{1,16}$/.test(segment) || !Number.isSafeInteger(Number(segment))) {
    throw badRequest("order number must be a non-negative integer");
  }
  const order = await deps.orders.get(Number(segment), req.requestId);
  return jsonResponse(200, { data: { number: order.number, name: order.name, type: order.type, quantity: order.quantity } });
}

async function getHealth(deps: ApiDeps): Promise<HttpResponse> {
  const { ok, body } = await deps.health();
  if (!ok) return jsonResponse(503, { error: { code: 503, message: "cannot serve trades", details: body } });
  return jsonResponse(200, { data: body });
}
