// Typed errors for what a client can do wrong at the HTTP/1.1 layer. Each code has one status
// (the table below is the whole mapping) and a stable name that tests and logs match on; the
// message is safe to send back in the JSON error body.

export const httpErrorStatus = {
  ERR_BAD_REQUEST_LINE: 400,
  ERR_BAD_TARGET: 400,
  ERR_TARGET_TOO_LONG: 414,
  ERR_VERSION_NOT_SUPPORTED: 505,
  ERR_BAD_HEADER: 400,
  ERR_HEADERS_TOO_LARGE: 431,
  ERR_BAD_HOST: 400,
  ERR_CONTENT_LENGTH_AND_TRANSFER_ENCODING: 400,
  ERR_BAD_CONTENT_LENGTH: 400,
  ERR_BAD_TRANSFER_ENCODING: 400,
  ERR_UNKNOWN_TRANSFER_CODING: 501,
  ERR_BODY_TOO_LARGE: 413,
  ERR_BAD_CHUNK: 400,
  ERR_TRAILERS_TOO_LARGE: 431,
  ERR_HEADERS_TIMEOUT: 408,
  ERR_BODY_TIMEOUT: 408,
} as const;

export type HttpErrorCode = keyof typeof httpErrorStatus;

/** A request the server refuses. After one, the connection's byte stream is not parsed further. */
export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly status: number;
  constructor(code: HttpErrorCode, message: string) {
    super(message);
    this.name = "HttpError";
    this.code = code;
    this.status = httpErrorStatus[code];
  }
}
