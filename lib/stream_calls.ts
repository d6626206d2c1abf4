// Unary calls carried over one long-lived bidirectional gRPC stream. Here a unary grpc-js call
// costs about a millisecond of CPU across the two processes (a new HTTP/2 stream, headers,
// trailers, a call object stack on each side), while one message on a stream that is already
// open costs about a tenth of that. The hot paths (frontend → leader PlaceBatch, leader →
// catalog TradeBatch, leader → follower Append) send each call as a `{call_id, request}`
// message and get back `{call_id, reply | error}`, answered in any order.
//
// The semantics stay those of a unary call: every call has its own deadline; a failure is an
// Error with a gRPC status `code` and `details`, like a grpc-js ServiceError, so callers treat
// both alike. When the stream breaks, every call on it fails with the stream's status
// (UNAVAILABLE for a peer gone or a connection reset; UNIMPLEMENTED from a peer without the
// RPC) and the next call opens a new stream. A call whose deadline passes fails
// with DEADLINE_EXCEEDED and the stream is replaced too (its other calls fail UNAVAILABLE): a
// peer that stopped answering on one stream is not trusted with the next call.
//
// Server side, each stream runs its calls concurrently through the same handler as the unary
// RPC, at most streamCallsInFlightMax at a time (more fail with RESOURCE_EXHAUSTED), and
// ends once drained when the server shuts down (StreamCallServer.closeAll).

import { grpc, settle } from "./grpc.ts";
import type { ToStatus } from "./grpc.ts";

/** Calls one stream runs at once on the server; callers keep far fewer in flight. */
export const streamCallsInFlightMax = 64;

export type CallError = { code: number; message: string };
export type CallMessage<Req> = { callId: number; request: Req | undefined };
export type ResultMessage<Res> = { callId: number; reply: Res | undefined; error: CallError | undefined };

/** An Error shaped like a grpc-js ServiceError (code, details, metadata). */
export function callFailure(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: new grpc.Metadata() });
}

type Pending<Res> = { resolve: (reply: Res) => void; reject: (err: Error) => void; timer: ReturnType<typeof setTimeout> };
type Duplex<Req, Res> = grpc.ClientDuplexStream<CallMessage<Req>, ResultMessage<Res>>;

export class StreamCaller<Req, Res> {
  private readonly open: () => Duplex<Req, Res>;
  private stream: Duplex<Req, Res> | undefined;
  private pending = new Map<number, Pending<Res>>();
  private nextCallId = 1;
  private closed = false;
  /** Streams opened so far (the first included); tests read it. */
  opened = 0;

  /** `open` starts the bidirectional RPC, e.g. `() => client.appends()`. */
  constructor(open: () => Duplex<Req, Res>) {
    this.open = open;
  }

  /** One call, failing with DEADLINE_EXCEEDED after timeoutMs. */
  call(request: Req, timeoutMs: number): Promise<Res> {
    if (this.closed) return Promise.reject(callFailure(grpc.status.CANCELLED, "the caller is closed"));
    let stream: Duplex<Req, Res>;
    try {
      stream = this.current();
    } catch (err) {
      // grpc-js throws when its channel is already closed: fail like a call that found no peer.
      return Promise.reject(
        callFailure(grpc.status.UNAVAILABLE, `cannot open the stream: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    const callId = this.nextCallId++;
    return new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(callId)) return;
        reject(callFailure(grpc.status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
        this.drop(stream, grpc.status.UNAVAILABLE, "stream replaced after a call's deadline passed");
      }, timeoutMs);
      this.pending.set(callId, { resolve, reject, timer });
      stream.write({ callId, request });
    });
  }

  /** Fail every pending call and end the stream; later calls fail at once. */
  close(): void {
    this.closed = true;
    if (this.stream) this.drop(this.stream, grpc.status.CANCELLED, "the caller is closed");
  }

  private current(): Duplex<Req, Res> {
    if (this.stream) return this.stream;
    const stream = this.open();
    this.stream = stream;
    this.opened++;
    stream.on("data", (result: ResultMessage<Res>) => this.settle(stream, result));
    // A stream that fails takes its calls with it. A peer without the RPC (UNIMPLEMENTED) or
    // refusing the stream (RESOURCE_EXHAUSTED) stays visible, as each unary call would have shown
    // it. Any other stream failure is the peer or the connection going away mid-stream — a
    // SIGKILLed peer surfaces as UNAVAILABLE, CANCELLED, INTERNAL ("RST_STREAM") or UNKNOWN
    // depending on timing (drop ignores the error our own cancel causes: that stream is no longer
    // current) — so for the caller it is UNAVAILABLE: outcome unknown, the peer may come back.
    stream.on("error", (err: Partial<grpc.ServiceError>) => {
      const code = err.code === grpc.status.UNIMPLEMENTED || err.code === grpc.status.RESOURCE_EXHAUSTED
        ? err.code
        : grpc.status.UNAVAILABLE;
      this.drop(stream, code, `stream failed: ${err.details ?? err.message ?? String(err)}`);
    });
    stream.on("end", () => this.drop(stream, grpc.status.UNAVAILABLE, "stream ended by the peer"));
    return stream;
  }

  private settle(stream: Duplex<Req, Res>, result: ResultMessage<Res>): void {
    if (stream !== this.stream) return;
    const call = this.pending.get(result.callId);
    if (!call) return; // its deadline passed: the answer comes too late
    this.pending.delete(result.callId);
    clearTimeout(call.timer);
    if (result.error) call.reject(callFailure(result.error.code, result.error.message));
    else if (result.reply === undefined) call.reject(callFailure(grpc.status.INTERNAL, "a result with neither reply nor error"));
    else call.resolve(result.reply);
  }

  /** Forget `stream` (if still current): its pending calls fail with `code`. */
  private drop(stream: Duplex<Req, Res>, code: grpc.status, details: string): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    const pending = this.pending;
    this.pending = new Map();
    for (const call of pending.values()) {
      clearTimeout(call.timer);
      call.reject(callFailure(code, details));
    }
    stream.cancel();
  }
}

type ServerStream<Req, Res> = grpc.ServerDuplexStream<CallMessage<Req>, ResultMessage<Res>>;
type OpenStream = { inFlight: number; ended: boolean; closing: boolean; readonly end: () => void };

/** The streams a server has open, so shutdown can end them once their calls are done. */
export class StreamCallServer {
  private readonly streams = new Set<OpenStream>();
  private closing = false;

  /**
   * The bidi handler for one RPC: runs `handler` for each call and answers with its reply, or
   * with the status `toStatus` gives the error (it may rethrow a bug, as a unary handler does).
   */
  handler<Req, Res>(
    handler: (request: Req) => Promise<Res>,
    toStatus: ToStatus,
  ): (call: ServerStream<Req, Res>) => void {
    return (call) => {
      const stream: OpenStream = {
        inFlight: 0,
        ended: false,
        closing: false,
        end: () => {
          if (stream.ended) return;
          stream.ended = true;
          this.streams.delete(stream);
          if (!call.cancelled && !call.destroyed) call.end();
        },
      };
      this.streams.add(stream);
      const answer = (result: ResultMessage<Res>): void => {
        if (!stream.ended && !call.cancelled && !call.destroyed) call.write(result);
      };
      const fail = (callId: number, code: grpc.status, message: string): void =>
        answer({ callId, reply: undefined, error: { code, message } });
      const finish = (): void => {
        stream.inFlight--;
        if (stream.closing && stream.inFlight === 0) stream.end();
      };
      call.on("data", (message: CallMessage<Req>) => {
        if (stream.closing) return fail(message.callId, grpc.status.UNAVAILABLE, "server is shutting down");
        if (message.request === undefined) return fail(message.callId, grpc.status.INVALID_ARGUMENT, "a call without a request");
        if (stream.inFlight >= streamCallsInFlightMax) {
          return fail(message.callId, grpc.status.RESOURCE_EXHAUSTED, `more than ${streamCallsInFlightMax} calls in flight on one stream`);
        }
        stream.inFlight++;
        settle(handler, message.request).then(
          (reply) => answer({ callId: message.callId, reply, error: undefined }),
          (err: unknown) => {
            const status = toStatus(err);
            fail(message.callId, status.code ?? grpc.status.INTERNAL, status.details ?? String(err));
          },
        ).finally(finish);
      });
      // The client finished sending: answer what is in flight, then end our side too.
      call.on("end", () => {
        stream.closing = true;
        if (stream.inFlight === 0) stream.end();
      });
      const forget = (): void => {
        stream.ended = true;
        this.streams.delete(stream);
      };
      call.on("error", forget);
      call.on("cancelled", forget);
      if (this.closing) {
        stream.closing = true;
        stream.end();
      }
    };
  }

  /** Shutdown: refuse new calls, end each stream once its calls are answered. */
  closeAll(): void {
    this.closing = true;
    for (const stream of [...this.streams]) {
      stream.closing = true;
      if (stream.inFlight === 0) stream.end();
    }
  }

  get size(): number {
    return this.streams.size;
  }
}
