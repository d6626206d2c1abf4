// StockBazaarClient: the typed client of the public API (docs/api.md) over node:http with
// keep-alive connections, one deadline per call, and each failure as a typed error (errors.ts).
// It runs unchanged on Node and Deno. It does not retry a request the server may have seen,
// except a trade with an idempotency key or a read whose reused keep-alive connection was closed.

import { Buffer } from "node:buffer";
import * as http from "node:http";
import { isTraceId, traceIdBytesMax } from "../lib/protocol.ts";
import {
  BadRequestError,
  BadResponseError,
  ConflictError,
  NetworkError,
  NotFoundError,
  StockBazaarError,
  TimeoutError,
  UnavailableError,
  UnexpectedStatusError,
} from "./errors.ts";

export * from "./errors.ts";

/** Default deadline of one call: above the frontend's own 10 s retry budget for a trade across a failover. */
export const clientDeadlineMsDefault = 15_000;
/** Longest deadline accepted: a mistyped option should not make a call wait for hours. */
export const clientDeadlineMsMax = 10 * 60_000;
/** Default keep-alive connections per client: enough for a few concurrent calls without a connect each. */
export const clientConnectionsMaxDefault = 16;
/** Most connections one client may open: a bound on sockets, not a goal. */
export const clientConnectionsMax = 10_000;
/** Largest response body read: GET /health is a few KiB; anything far beyond it is not the API. */
export const clientResponseBytesMax = 1024 * 1024;

export type OrderType = "buy" | "sell";
export type Stock = { readonly name: string; readonly price: number; readonly quantity: number; readonly volume: number };
export type Order = { readonly number: number; readonly name: string; readonly type: OrderType; readonly quantity: number };
export type Trade = { readonly transactionNumber: number };
export type TradeRequest = {
  readonly name: string;
  readonly type: OrderType;
  readonly quantity: number;
  /** 1-128 visible ASCII characters; the same key with the same order trades once (docs/api.md). */
  readonly idempotencyKey?: string;
};
/** GET /health's body: a few fields every caller reads, and the rest as the server sends it. */
export type Health = {
  readonly status: "ok" | "degraded";
  readonly leader: number | null;
  readonly [field: string]: unknown;
};

/** A successful call: the value, and the response's tracing headers when the server sent them. */
export type Reply<T> = {
  readonly data: T;
  readonly status: number;
  /** X-Request-Id of the response: the client's own id echoed, or the one the server generated. */
  readonly requestId?: string;
  /** Server-Timing of the response (phases of the request inside the frontend). */
  readonly serverTiming?: string;
};

/** GET /health: `ok` is false when the frontend answered 503 (it cannot serve trades). */
export type HealthReply = Reply<Health> & { readonly ok: boolean };

export type CallOptions = {
  /** This call's deadline, replacing the client's. */
  readonly deadlineMs?: number;
  /** Sent as X-Request-Id (1-128 visible ASCII), so the server's logs carry the caller's id. */
  readonly requestId?: string;
};

export type StockBazaarClientOptions = {
  /** The frontend's origin, e.g. "http://127.0.0.1:8080". */
  readonly baseUrl: string | URL;
  /** Deadline of each call in milliseconds (default clientDeadlineMsDefault). */
  readonly deadlineMs?: number;
  /** Keep-alive connections kept open at most (default clientConnectionsMaxDefault). */
  readonly connectionsMax?: number;
};

type Answer = { status: number; headers: http.IncomingHttpHeaders; body: string };
type Request = {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: string;
  readonly headers: Record<string, string>;
  /** Safe to send again if a reused connection turns out closed (a read, or a keyed trade). */
  readonly repeatable: boolean;
};

const reusedConnectionErrors = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

export class StockBazaarClient {
  readonly baseUrl: URL;
  readonly deadlineMs: number;
  private readonly agent: http.Agent;

  constructor(options: StockBazaarClientOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("Cannot create client: options must be an object");
    this.baseUrl = parseBaseUrl(options.baseUrl);
    this.deadlineMs = checkInteger("deadlineMs", options.deadlineMs ?? clientDeadlineMsDefault, 1, clientDeadlineMsMax);
    const connectionsMax = checkInteger("connectionsMax", options.connectionsMax ?? clientConnectionsMaxDefault, 1, clientConnectionsMax);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connectionsMax, maxFreeSockets: connectionsMax });
  }

  /** GET /stocks/{name}: the stock, or NotFoundError. */
  async lookup(name: string, options: CallOptions = {}): Promise<Reply<Stock>> {
    if (typeof name !== "string" || name === "") throw new TypeError("Cannot look up stock: name must be a non-empty string");
    const reply = await this.call({ method: "GET", path: `/stocks/${encodeURIComponent(name)}`, headers: {}, repeatable: true }, options);
    return withData(reply, stockOf(reply));
  }

  /** POST /orders: the transaction number, or BadRequestError, ConflictError, UnavailableError. */
  async trade(order: TradeRequest, options: CallOptions = {}): Promise<Reply<Trade>> {
    checkTrade(order);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (order.idempotencyKey !== undefined) headers["idempotency-key"] = order.idempotencyKey;
    const body = JSON.stringify({ name: order.name, type: order.type, quantity: order.quantity });
    const request: Request = { method: "POST", path: "/orders", body, headers, repeatable: order.idempotencyKey !== undefined };
    const reply = await this.call(request, options);
    const number = (reply.data as { transaction_number?: unknown }).transaction_number;
    if (!isCount(number)) throw badShape(reply, "transaction_number is not a non-negative integer");
    return withData(reply, { transactionNumber: number });
  }

  /** GET /orders/{number}: the order, or NotFoundError. */
  async order(number: number, options: CallOptions = {}): Promise<Reply<Order>> {
    if (!isCount(number)) throw new RangeError(`Cannot query order: number must be a non-negative integer (got ${String(number)})`);
    const reply = await this.call({ method: "GET", path: `/orders/${number}`, headers: {}, repeatable: true }, options);
    return withData(reply, orderOf(reply));
  }

  /** GET /health: the state of every dependency, with ok=false when the frontend answers 503. */
  async health(options: CallOptions = {}): Promise<HealthReply> {
    try {
      const reply = await this.call({ method: "GET", path: "/health", headers: {}, repeatable: true }, options);
      return { ...withData(reply, healthOf(reply, reply.data)), ok: true };
    } catch (err) {
      if (!(err instanceof UnavailableError) || typeof err.details !== "object" || err.details === null) throw err;
      const reply = { status: 503, data: err.details, ...(err.requestId === undefined ? {} : { requestId: err.requestId }) };
      return { ...reply, data: healthOf(reply, err.details), ok: false };
    }
  }

  /** Close the idle keep-alive connections; calls in flight finish. */
  close(): void {
    this.agent.destroy();
  }

  private async call(request: Request, options: CallOptions): Promise<Reply<object>> {
    const deadlineMs = options.deadlineMs === undefined
      ? this.deadlineMs
      : checkInteger("deadlineMs", options.deadlineMs, 1, clientDeadlineMsMax);
    const headers = { ...request.headers };
    if (options.requestId !== undefined) {
      if (!isTraceId(options.requestId)) {
        throw new RangeError(`Cannot send request: requestId must be 1 to ${traceIdBytesMax} visible ASCII characters`);
      }
      headers["x-request-id"] = options.requestId;
    }
    const deadline = Date.now() + deadlineMs;
    let answer: Answer;
    try {
      answer = await this.exchange(request, headers, deadline, deadlineMs);
    } catch (err) {
      // A keep-alive connection the server closed while idle fails the next request on it at
      // once; the request never reached a handler, so a repeatable one goes out on a fresh one.
      if (!(err instanceof RetryOnFreshConnection)) throw err;
      answer = await this.exchange(request, headers, deadline, deadlineMs, false);
    }
    return interpret(request, answer);
  }

  private exchange(
    request: Request,
    headers: Record<string, string>,
    deadline: number,
    deadlineMs: number,
    mayRetry = request.repeatable,
  ): Promise<Answer> {
    const what = `${request.method} ${request.path}`;
    return new Promise<Answer>((resolve, reject) => {
      const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8");
      if (body !== undefined) headers["content-length"] = String(body.length);
      const req = http.request(new URL(request.path, this.baseUrl), { method: request.method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > clientResponseBytesMax) {
            req.destroy(new BadResponseError(res.statusCode ?? 0, `${what}: response body larger than ${clientResponseBytesMax} bytes`));
          } else chunks.push(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (err) => req.destroy(err));
      });
      const timer = setTimeout(
        () => req.destroy(new TimeoutError(`${what}: no complete response within ${deadlineMs} ms`, deadlineMs)),
        Math.max(0, deadline - Date.now()),
      );
      req.on("close", () => clearTimeout(timer));
      req.on("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err instanceof StockBazaarError) return reject(err);
        if (mayRetry && req.reusedSocket && reusedConnectionErrors.has(err.code ?? "")) return reject(new RetryOnFreshConnection());
        reject(new NetworkError(`${what}: ${err.code ?? "network error"}: ${err.message}`, err));
      });
      req.end(body);
    });
  }
}

/** Internal signal: the request failed on a reused connection before any answer; send it again. */
class RetryOnFreshConnection extends Error {}

function parseBaseUrl(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(`Cannot create client: baseUrl must be a URL (got ${JSON.stringify(String(value))})`);
  }
  if (url.protocol !== "http:") throw new TypeError(`Cannot create client: baseUrl must be an http: URL (got ${url.href})`);
  return url;
}

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(`Cannot create client: ${name} must be an integer (got ${String(value)})`);
  }
  if (value < min || value > max) throw new RangeError(`Cannot create client: ${name} must be from ${min} to ${max} (got ${value})`);
  return value;
}

/** The shape of a trade; the values (known stock, quantity range, key characters) are the server's to judge. */
function checkTrade(order: TradeRequest): void {
  if (typeof order !== "object" || order === null) throw new TypeError("Cannot trade: the order must be an object");
  if (typeof order.name !== "string") throw new TypeError("Cannot trade: name must be a string");
  if (order.type !== "buy" && order.type !== "sell") throw new TypeError('Cannot trade: type must be "buy" or "sell"');
  if (typeof order.quantity !== "number") throw new TypeError("Cannot trade: quantity must be a number");
  if (order.idempotencyKey !== undefined && typeof order.idempotencyKey !== "string") {
    throw new TypeError("Cannot trade: idempotencyKey must be a string");
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** A 200 with {"data": {...}}, or the typed error its status and {"error": {...}} body stand for. */
function interpret(request: Request, answer: Answer): Reply<object> {
  const what = `${request.method} ${request.path}`;
  const requestId = header(answer.headers, "x-request-id");
  const serverTiming = header(answer.headers, "server-timing");
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    throw new BadResponseError(
      answer.status,
      `${what}: HTTP ${answer.status} with a body that is not JSON: ${answer.body.slice(0, 200)}`,
      requestId,
    );
  }
  if (answer.status === 200) {
    const data = (body as { data?: unknown } | null)?.data;
    if (typeof data !== "object" || data === null) throw new BadResponseError(200, `${what}: HTTP 200 without a data object`, requestId);
    return {
      data,
      status: 200,
      ...(requestId === undefined ? {} : { requestId }),
      ...(serverTiming === undefined ? {} : { serverTiming }),
    };
  }
  const error = (body as { error?: { message?: unknown; details?: unknown } } | null)?.error;
  if (typeof error !== "object" || error === null || typeof error.message !== "string") {
    throw new BadResponseError(answer.status, `${what}: HTTP ${answer.status} without an error object`, requestId);
  }
  const message = `${what}: HTTP ${answer.status}: ${error.message}`;
  switch (answer.status) {
    case 400:
      throw new BadRequestError(message, requestId);
    case 404:
      throw new NotFoundError(message, requestId);
    case 409:
      throw new ConflictError(message, requestId);
    case 503:
      throw new UnavailableError(message, retryAfterOf(answer.headers), requestId, error.details);
    default:
      throw new UnexpectedStatusError(answer.status, message, requestId);
  }
}

/** Retry-After as delay-seconds (RFC 9110 §10.2.3); the API never sends the date form. */
function retryAfterOf(headers: http.IncomingHttpHeaders): number | undefined {
  const value = header(headers, "retry-after");
  return value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

function withData<T>(reply: Reply<object>, data: T): Reply<T> {
  return { ...reply, data };
}

function badShape(reply: Reply<unknown>, problem: string): BadResponseError {
  return new BadResponseError(reply.status, `response data does not match the API: ${problem}`, reply.requestId);
}

function stockOf(reply: Reply<object>): Stock {
  const { name, price, quantity, volume } = reply.data as Record<string, unknown>;
  if (typeof name !== "string" || typeof price !== "number" || !isCount(quantity) || !isCount(volume)) {
    throw badShape(reply, `not a stock: ${JSON.stringify(reply.data)}`);
  }
  return { name, price, quantity, volume };
}

function orderOf(reply: Reply<object>): Order {
  const { number, name, type, quantity } = reply.data as Record<string, unknown>;
  if (!isCount(number) || typeof name !== "string" || (type !== "buy" && type !== "sell") || !isCount(quantity)) {
    throw badShape(reply, `not an order: ${JSON.stringify(reply.data)}`);
  }
  return { number, name, type, quantity };
}

function healthOf(reply: Reply<unknown>, data: unknown): Health {
  const { status, leader } = data as Record<string, unknown>;
  if ((status !== "ok" && status !== "degraded") || (leader !== null && !isCount(leader))) {
    throw badShape(reply, `not a health state: ${JSON.stringify(data)}`);
  }
  return data as Health;
}
