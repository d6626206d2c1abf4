// The frontend's typed operating errors and the ONE place that maps errors to HTTP responses.
// Routes throw these; the dispatcher calls `errorResponse`. Anything else is a bug → 500.

import { grpc, isServiceError } from "../lib/grpc.ts";
import { jsonError } from "./http/response.ts";
import type { HttpResponse } from "./http/response.ts";
import { retryAfterSeconds } from "./limits.ts";
import type { Logger } from "../lib/log.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "ERR_BAD_REQUEST", message);
}

export function notFound(message: string): ApiError {
  return new ApiError(404, "ERR_NOT_FOUND", message);
}

export function conflict(message: string): ApiError {
  return new ApiError(409, "ERR_CONFLICT", message);
}

export function methodNotAllowed(allow: readonly string[]): ApiError {
  return new ApiError(405, "ERR_METHOD_NOT_ALLOWED", "method not allowed", { allow: allow.join(", ") });
}

export function unavailable(message: string): ApiError {
  return new ApiError(503, "ERR_UNAVAILABLE", message, { "retry-after": String(retryAfterSeconds) });
}

/** The response for an error a route threw; a bug is logged with the request's id (X-Request-Id) when given. */
export function errorResponse(err: unknown, log: Logger, requestId?: string): HttpResponse {
  if (err instanceof ApiError) return jsonError(err.status, err.message, err.headers);
  if (isServiceError(err) && (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED)) {
    return jsonError(503, "service unavailable", { "retry-after": String(retryAfterSeconds) });
  }
  log.error("unexpected error in handler", { requestId, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  return jsonError(500, "internal error");
}
