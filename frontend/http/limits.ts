// Every bound the HTTP/1.1 server enforces, as named constants with the reason for each, and
// the one function that validates overrides. The server takes a partial override object (tests
// use small values, the frontend reads its configuration) and never uses a bare number itself.

export type HttpLimits = {
  /** Request line + header fields + the empty line, in bytes. Beyond it: 431. */
  readonly headerBytesMax: number;
  /** Header field lines per request (and trailer lines per chunked body). Beyond it: 431. */
  readonly headerCountMax: number;
  /** The request-target (path and query) in bytes. Beyond it: 414. */
  readonly requestTargetBytesMax: number;
  /** Decoded request body in bytes, Content-Length or chunked. Beyond it: 413. */
  readonly bodyBytesMax: number;
  /** One chunk-size line including its (ignored) extensions. Beyond it: 400. */
  readonly chunkLineBytesMax: number;
  /** The trailer section of a chunked body. Beyond it: 431. */
  readonly trailerBytesMax: number;
  /** From the first byte of a request until its headers are complete (slowloris). Then: 408. */
  readonly headersTimeoutMs: number;
  /** From the end of the headers (or the 100 Continue) until the body is complete. Then: 408. */
  readonly bodyTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed after this long. */
  readonly idleTimeoutMs: number;
  /** A handler that has not answered by then gets a 503 in its place. */
  readonly handlerTimeoutMs: number;
  /** A client that does not read our responses (write buffer stays full) is dropped after this. */
  readonly writeTimeoutMs: number;
  /** After the last response on a closing connection, how long we keep reading and discarding
   * before destroying it: closing with unread input makes the kernel send RST, which can
   * destroy our error response before the client reads it. */
  readonly lingerMs: number;
  /** Graceful close: how long in-flight requests get before their sockets are destroyed. */
  readonly drainTimeoutMs: number;
  /** Open connections; beyond it a new connection gets a 503 and is closed. */
  readonly connectionsMax: number;
  /** Parsed requests waiting behind the one in progress on a connection (pipelining). At the
   * bound we stop reading the socket, so a client cannot make us buffer without end. */
  readonly pipelinedRequestsMax: number;
  /** Bytes of responses the socket may hold unsent before we stop handling requests and wait
   * for it to drain (output backpressure). */
  readonly writeBufferBytesMax: number;
};

const kib = 1024;

// Worst-case memory per connection is about
// (pipelinedRequestsMax + 2) * (headerBytesMax + bodyBytesMax) + writeBufferBytesMax + one read
// (64 KiB): with these defaults about 1.5 MiB, and connectionsMax times that bounds the server.
export const defaultLimits: HttpLimits = {
  headerBytesMax: 16 * kib,
  headerCountMax: 100,
  requestTargetBytesMax: 8 * kib,
  bodyBytesMax: 64 * kib,
  chunkLineBytesMax: 4 * kib,
  trailerBytesMax: 4 * kib,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  handlerTimeoutMs: 30_000,
  writeTimeoutMs: 10_000,
  lingerMs: 1_000,
  drainTimeoutMs: 5_000,
  connectionsMax: 10_000,
  pipelinedRequestsMax: 16,
  writeBufferBytesMax: 64 * kib,
};

/**
 * Seconds a client is asked to wait (Retry-After) on every 503 the server itself sends: too many
 * connections, a handler past its deadline. A 503 always says when to come back (RFC 9110 §10.2.3).
 */
export const busyRetryAfterSeconds = 1;

/** The longest method token we accept: the longest registered method is 17 bytes. */
export const methodBytesMax = 32;
/** "HTTP/1.1" */
export const versionBytes = 8;
/** Request line without its CRLF, at most: method SP target SP version. */
export function requestLineBytesMax(requestTargetBytesMax: number): number {
  return methodBytesMax + 1 + requestTargetBytesMax + 1 + versionBytes;
}

type Range = { readonly min: number; readonly max: number };
const minute = 60_000;

/** What each option may be set to; the minimums keep a request line and a timer tick possible. */
const ranges: { readonly [K in keyof HttpLimits]: Range } = {
  headerBytesMax: { min: 64, max: 1024 * kib },
  headerCountMax: { min: 1, max: 10_000 },
  requestTargetBytesMax: { min: 1, max: 1024 * kib },
  bodyBytesMax: { min: 0, max: 1024 * 1024 * kib },
  chunkLineBytesMax: { min: 8, max: 1024 * kib },
  trailerBytesMax: { min: 2, max: 1024 * kib },
  headersTimeoutMs: { min: 10, max: 10 * minute },
  bodyTimeoutMs: { min: 10, max: 10 * minute },
  idleTimeoutMs: { min: 10, max: 10 * minute },
  handlerTimeoutMs: { min: 10, max: 10 * minute },
  writeTimeoutMs: { min: 10, max: 10 * minute },
  lingerMs: { min: 0, max: minute },
  drainTimeoutMs: { min: 0, max: 10 * minute },
  connectionsMax: { min: 1, max: 1_000_000 },
  pipelinedRequestsMax: { min: 1, max: 10_000 },
  writeBufferBytesMax: { min: 1, max: 1024 * 1024 * kib },
};

/**
 * Merge overrides into the defaults. A wrong option throws at construction with a message
 * naming it: TypeError for an unknown name or a non-integer, RangeError for out of range.
 */
export function resolveLimits(overrides: Partial<HttpLimits> = {}): HttpLimits {
  for (const name of Object.keys(overrides)) {
    if (!Object.hasOwn(ranges, name)) throw new TypeError(`Cannot create HTTP server: limits.${name} is not a known limit`);
  }
  const limits: HttpLimits = { ...defaultLimits, ...overrides };
  for (const name of Object.keys(ranges) as (keyof HttpLimits)[]) {
    const value = limits[name];
    const { min, max } = ranges[name];
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      throw new TypeError(`Cannot create HTTP server: limits.${name} must be an integer (got ${String(value)})`);
    }
    if (value < min || value > max) {
      throw new RangeError(`Cannot create HTTP server: limits.${name} must be from ${min} to ${max} (got ${value})`);
    }
  }
  // The request line is checked against its own bound before the header bound, so the header
  // bound must leave room for a complete request line and its CRLF.
  if (requestLineBytesMax(limits.requestTargetBytesMax) + 2 > limits.headerBytesMax) {
    throw new RangeError(
      `Cannot create HTTP server: limits.headerBytesMax (${limits.headerBytesMax}) must exceed ` +
        `limits.requestTargetBytesMax (${limits.requestTargetBytesMax}) by at least ${methodBytesMax + versionBytes + 4}`,
    );
  }
  return limits;
}
