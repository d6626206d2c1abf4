// gRPC plumbing shared by every service: one set of channel options, unary calls as promises
// that always carry a deadline (and the HTTP request's id, as x-request-id metadata), the one
// adapter from a promise-returning handler to a grpc-js handler, error text for logs, and server
// start/stop. Nothing here knows a service's messages.

import * as grpc from "@grpc/grpc-js";
import { isTraceId } from "./protocol.ts";

export { grpc };

/** Keepalive pings find a dead peer even when no call is in flight. */
export const keepaliveTimeMs = 10_000;
export const keepaliveTimeoutMs = 5_000;
/** Bounds one message; the largest is a catch-up page of orders. */
export const messageBytesMax = 16 * 1024 * 1024;
/** How long a stopping server waits for in-flight calls before cancelling them. */
export const serverDrainTimeoutMs = 5_000;

export const channelOptions: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": keepaliveTimeMs,
  "grpc.keepalive_timeout_ms": keepaliveTimeoutMs,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": messageBytesMax,
  "grpc.max_send_message_length": messageBytesMax,
  // Reconnect quickly after a peer restarts: failover time depends on it.
  "grpc.initial_reconnect_backoff_ms": 50,
  "grpc.max_reconnect_backoff_ms": 500,
  "grpc.enable_retries": 0,
};

export const serverOptions: grpc.ServerOptions = {
  "grpc.keepalive_time_ms": keepaliveTimeMs,
  "grpc.keepalive_timeout_ms": keepaliveTimeoutMs,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 1_000,
  "grpc.max_receive_message_length": messageBytesMax,
  "grpc.max_send_message_length": messageBytesMax,
};

export function deadlineAfter(timeoutMs: number): Date {
  return new Date(Date.now() + timeoutMs);
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export type CallOptions = {
  /**
   * Wait, within the deadline, for a channel that is reconnecting (a peer restarting) instead of
   * failing at once with UNAVAILABLE. For reads that have nothing better to do; not for health
   * checks, whose point is to find out quickly.
   */
  readonly waitForReady?: boolean;
  /** The HTTP request this call serves: sent as x-request-id, so the server's error lines name it. */
  readonly requestId?: string | undefined;
};

/** The metadata key that carries the id of the HTTP request a call serves. */
export const requestIdMetadataKey = "x-request-id";

/** The metadata of a call: wait-for-ready and the request id, as `options` ask. */
export function callMetadata(options: CallOptions = {}): grpc.Metadata {
  const metadata = new grpc.Metadata(options.waitForReady ? { waitForReady: true } : undefined);
  if (options.requestId !== undefined) metadata.set(requestIdMetadataKey, options.requestId);
  return metadata;
}

/** The request id a call carries, if it is one we log (printable ASCII, bounded); else undefined. */
export function requestIdOf(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get(requestIdMetadataKey)[0];
  return isTraceId(value) ? value : undefined;
}

/** A unary call as a promise, always under a deadline. */
export function callUnary<Req, Res>(
  client: grpc.Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  timeoutMs: number,
  options: CallOptions = {},
): Promise<Res> {
  const metadata = callMetadata(options);
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, { deadline: deadlineAfter(timeoutMs) }, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === "number";
}

/** A failure for a log line: `STATUS: details` for a gRPC error, else its message. */
export function errorText(err: unknown): string {
  if (isServiceError(err)) return `${grpc.status[err.code] ?? err.code}: ${err.details}`;
  return err instanceof Error ? err.message : String(err);
}

/** `handler(request)` as a promise, a synchronous throw included (it becomes the rejection). */
export function settle<Req, Res>(handler: (request: Req) => Promise<Res>, request: Req): Promise<Res> {
  try {
    return handler(request);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The status for a handler's error; `requestId` (x-request-id of a unary call) is for its log line. */
export type ToStatus = (err: unknown, requestId?: string) => Partial<grpc.StatusObject>;

/**
 * A grpc-js unary handler from a promise-returning one: it answers with the reply, or with the
 * status `toStatus` gives the error, which also gets the call's request id to log. `toStatus`
 * may rethrow a bug: it then crashes the process as an unhandled rejection, loudly, instead of
 * answering.
 */
export function unaryHandler<Req, Res>(handler: (request: Req) => Promise<Res>, toStatus: ToStatus): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    settle(handler, call.request).then(
      (value) => callback(null, value),
      (err: unknown) => callback(toStatus(err, requestIdOf(call.metadata))),
    );
  };
}

/** True when the failure says nothing about the request itself: the peer is down, slow or not leading. */
export function isTransient(err: unknown): boolean {
  if (!isServiceError(err)) return false;
  const s = grpc.status;
  return err.code === s.UNAVAILABLE || err.code === s.DEADLINE_EXCEEDED || err.code === s.CANCELLED ||
    err.code === s.FAILED_PRECONDITION || err.code === s.ABORTED || err.code === s.UNKNOWN ||
    err.code === s.INTERNAL || err.code === s.RESOURCE_EXHAUSTED;
}

/** A gRPC error with a status, for server handlers to pass to their callback. */
export function statusError(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details, metadata: new grpc.Metadata() };
}

/**
 * grpc-js sets TCP_NODELAY on the sockets it connects but not on those its server accepts, so
 * a reply written as several frames (headers, data, trailers) meets Nagle's algorithm and the
 * peer's delayed ACK: tens of milliseconds per call under load. There is no option for it, so
 * we reach the http2 servers grpc-js keeps (an internal field, checked before use; if a later
 * grpc-js renames it, this becomes a no-op and only speed suffers).
 */
function setNoDelayOnAccept(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const http2Server of servers.keys() as IterableIterator<{ on?: unknown }>) {
    if (typeof http2Server.on !== "function") continue;
    (http2Server as unknown as NetServerLike).on("connection", (socket) => socket.setNoDelay(true));
  }
}

type NetServerLike = { on(event: "connection", listener: (socket: { setNoDelay(on: boolean): void }) => void): void };

export function bindServer(server: grpc.Server, host: string, port: number): Promise<number> {
  const address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
      if (err) return reject(err);
      setNoDelayOnAccept(server);
      resolve(boundPort);
    });
  });
}

/** Stop accepting, let in-flight calls finish for a bounded time, then cancel the rest. */
export function shutdownServer(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, serverDrainTimeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
