// The failures a StockBazaarClient call can end in, one class per kind with a stable `code`
// (docs/api.md "Errors"): an answer with an error status from the API, an answer that is not
// the API's JSON, no answer at all (network), or no answer within the call's deadline.

/** What every client failure carries; `status` is set only when the server answered. */
export class StockBazaarError extends Error {
  readonly code: string;
  /** The HTTP status of the answer; undefined when there was none (network, timeout). */
  readonly status: number | undefined;
  /** The response's X-Request-Id, when the server sent one: quote it when reporting a problem. */
  readonly requestId: string | undefined;
  constructor(code: string, message: string, status: number | undefined, requestId: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = "StockBazaarError";
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

/** 400: the request is wrong (a field, the path, an Idempotency-Key, an unknown stock in an order). */
export class BadRequestError extends StockBazaarError {
  constructor(message: string, requestId?: string) {
    super("ERR_BAD_REQUEST", message, 400, requestId);
    this.name = "BadRequestError";
  }
}

/** 404: no such stock, or no such order. */
export class NotFoundError extends StockBazaarError {
  constructor(message: string, requestId?: string) {
    super("ERR_NOT_FOUND", message, 404, requestId);
    this.name = "NotFoundError";
  }
}

/** 409: the order cannot be filled (insufficient quantity); it took no transaction number. */
export class ConflictError extends StockBazaarError {
  constructor(message: string, requestId?: string) {
    super("ERR_CONFLICT", message, 409, requestId);
    this.name = "ConflictError";
  }
}

/**
 * 503: the system cannot serve this now (no order leader, catalog down, overloaded). For a
 * trade the outcome is unknown: retry with the same idempotency key after `retryAfterSeconds`.
 */
export class UnavailableError extends StockBazaarError {
  /** The Retry-After the server sent, in seconds; undefined if it sent none. */
  readonly retryAfterSeconds: number | undefined;
  /** GET /health's answer with a 503: the state of every dependency (error.details). */
  readonly details: unknown;
  constructor(message: string, retryAfterSeconds: number | undefined, requestId?: string, details?: unknown) {
    super("ERR_UNAVAILABLE", message, 503, requestId);
    this.name = "UnavailableError";
    this.retryAfterSeconds = retryAfterSeconds;
    this.details = details;
  }
}

/** Any other error status the API can send (405, 413, 431, 500, ...), with the server's message. */
export class UnexpectedStatusError extends StockBazaarError {
  constructor(status: number, message: string, requestId?: string) {
    super("ERR_UNEXPECTED_STATUS", message, status, requestId);
    this.name = "UnexpectedStatusError";
  }
}

/** The server answered, but not with the API's JSON shape (a proxy's page, a truncated body). */
export class BadResponseError extends StockBazaarError {
  constructor(status: number, message: string, requestId?: string) {
    super("ERR_BAD_RESPONSE", message, status, requestId);
    this.name = "BadResponseError";
  }
}

/** No answer: the connection was refused, reset or closed before a complete response. */
export class NetworkError extends StockBazaarError {
  constructor(message: string, cause: unknown) {
    super("ERR_NETWORK", message, undefined, undefined, { cause });
    this.name = "NetworkError";
  }
}

/** No complete answer within the call's deadline; for a trade the outcome is unknown. */
export class TimeoutError extends StockBazaarError {
  readonly deadlineMs: number;
  constructor(message: string, deadlineMs: number) {
    super("ERR_TIMEOUT", message, undefined, undefined);
    this.name = "TimeoutError";
    this.deadlineMs = deadlineMs;
  }
}
