// One HTTP/1.1 connection: joins a socket and a parser, and runs the one async loop per socket
// that takes parsed requests in order, awaits the handler and writes the responses in order
// (keep-alive, pipelining). It owns the phase timeouts, the pipelining bound, output
// backpressure and closing. It neither accepts nor counts sockets: server.ts does.

import type { Socket } from "node:net";
import { AssertionError } from "../../lib/assert.ts";
import type { Logger } from "../../lib/log.ts";
import { HttpError } from "./errors.ts";
import { generatedRequestId } from "./head.ts";
import { busyRetryAfterSeconds } from "./limits.ts";
import type { HttpLimits } from "./limits.ts";
import { HttpParser } from "./parser.ts";
import type { HttpRequest, ParseEvent, ParserState } from "./parser.ts";
import { continueResponse, httpErrorResponse, jsonError, serializeResponse } from "./response.ts";
import type { HttpResponse, ResponseFraming } from "./response.ts";

export type HttpHandler = (request: HttpRequest) => Promise<HttpResponse> | HttpResponse;

export type ConnectionOptions = {
  readonly handler: HttpHandler;
  readonly limits: HttpLimits;
  readonly log: Logger;
  readonly onClose: (connection: Connection) => void;
};

type QueueItem = Exclude<ParseEvent, { kind: "needMore" }>;
/** What the read clock measures: the client sending a head, a body, or nothing between requests. */
type ReadPhase = "idle" | "head" | "body" | "none";
/** What the loop clock measures: a handler, a full write buffer, or a closing socket. */
type LoopPhase = "handler" | "write" | "linger" | "none";

const internalError = jsonError(500, "internal server error");
const handlerTimeout = jsonError(503, "the request took too long; try again", { "retry-after": String(busyRetryAfterSeconds) });
const keepOpen: ResponseFraming = { close: false, headOnly: false, announceKeepAlive: false };
const closeAfter: ResponseFraming = { close: true, headOnly: false, announceKeepAlive: false };

function framingFor(request: HttpRequest, close: boolean): ResponseFraming {
  const headOnly = request.method === "HEAD";
  const announceKeepAlive = !close && request.version === "1.0";
  if (!headOnly && !announceKeepAlive) return close ? closeAfter : keepOpen;
  return { close, headOnly, announceKeepAlive };
}

function readPhaseOf(state: ParserState): ReadPhase {
  if (state === "idle") return "idle";
  if (state === "requestLine" || state === "headers") return "head";
  return state === "failed" ? "none" : "body";
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}

export class Connection {
  private readonly socket: Socket;
  private readonly options: ConnectionOptions;
  private readonly limits: HttpLimits;
  private readonly parser: HttpParser;
  private readonly queue: QueueItem[] = [];
  /** Serialized responses not yet handed to the socket: pipelined answers go out in one write. */
  private out: (string | Buffer)[] = [];
  private outBytes = 0;
  private outStrings = true;
  private readPhase: ReadPhase = "idle";
  private readDeadline = Infinity;
  private loopPhase: LoopPhase = "none";
  private loopDeadline = Infinity;
  /** Reading is paused because the queue is full. */
  private paused = false;
  /** Input is no longer parsed (after an error, a timeout or the last response); it is discarded. */
  private discarding = false;
  /** A 100 Continue is queued behind earlier responses: the client waits for us, so the body
   * clock must not run until it is sent. */
  private continuePending = false;
  private readEnded = false;
  private shuttingDown = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private drainWaiter: (() => void) | undefined;
  private abortHandler: (() => void) | undefined;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.limits = options.limits;
    this.parser = new HttpParser(options.limits);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("drain", () => this.drainWaiter?.());
    socket.on("error", (err) => options.log.debug("socket error", { error: err.message }));
    socket.on("close", () => this.onClose());
    this.run().catch((err: unknown) => this.crash(err));
  }

  /** Graceful close: answer the request in progress with "connection: close", then close. */
  shutdown(): void {
    this.shuttingDown = true;
    this.wakeUp();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Called by the server's sweep timer; `now` is Date.now(). */
  checkTimeouts(now: number): void {
    if (now >= this.readDeadline) {
      if (this.readPhase === "idle") this.destroy();
      else if (this.readPhase === "head") this.refuse(new HttpError("ERR_HEADERS_TIMEOUT", "request headers took too long"));
      else if (this.readPhase === "body") this.refuse(new HttpError("ERR_BODY_TIMEOUT", "request body took too long"));
    }
    if (now >= this.loopDeadline) {
      if (this.loopPhase === "handler") this.abortHandler?.();
      else this.destroy(); // a client that does not read, or does not close after our FIN
    }
  }

  private onData(chunk: Buffer): void {
    if (this.discarding) return;
    this.parser.push(chunk);
    this.pump();
  }

  /** Parse what has arrived into the queue, up to its bound; pause reading at the bound. */
  private pump(): void {
    while (this.queue.length < this.limits.pipelinedRequestsMax) {
      const event = this.parser.next();
      if (event.kind === "needMore") break;
      this.queue.push(event);
      if (event.kind === "continue") this.continuePending = true;
      if (event.kind === "error") {
        this.discarding = true; // never parse a stream further once its framing is in doubt
        break;
      }
    }
    const full = this.queue.length >= this.limits.pipelinedRequestsMax && !this.discarding;
    if (full !== this.paused) {
      this.paused = full;
      if (full) this.socket.pause();
      else this.socket.resume();
    }
    this.updateReadClock();
    if (this.queue.length > 0) this.wakeUp();
  }

  /** Restart the read clock whenever the read phase changes; stop it while we are not reading. */
  private updateReadClock(): void {
    const phase = this.paused || this.discarding || this.continuePending ? "none" : readPhaseOf(this.parser.state);
    if (phase === this.readPhase) return;
    this.readPhase = phase;
    if (phase === "head") this.readDeadline = Date.now() + this.limits.headersTimeoutMs;
    else if (phase === "body") this.readDeadline = Date.now() + this.limits.bodyTimeoutMs;
    else if (phase === "idle" && this.wake !== undefined) this.readDeadline = Date.now() + this.limits.idleTimeoutMs;
    else this.readDeadline = Infinity;
  }

  /** A timeout while reading: answer it in order after the requests already queued, then close. */
  private refuse(error: HttpError): void {
    this.options.log.debug("request refused", { code: error.code });
    this.queue.push({ kind: "error", error });
    this.discarding = true;
    this.paused = false;
    this.socket.resume();
    this.updateReadClock();
    this.wakeUp();
  }

  private onEnd(): void {
    this.readEnded = true; // finish what was received, then close (allowHalfOpen)
    this.wakeUp();
  }

  private onClose(): void {
    this.closed = true;
    this.readDeadline = Infinity;
    this.loopDeadline = Infinity;
    this.wakeUp();
    this.drainWaiter?.();
    this.options.onClose(this);
  }

  private wakeUp(): void {
    const wake = this.wake;
    if (wake === undefined) return;
    this.wake = undefined;
    if (this.readPhase === "idle") this.readDeadline = Infinity;
    wake();
  }

  /** Resolves when there may be something to do: a queued item, the end of input, a close. */
  private waitForWork(): Promise<void> {
    this.flush();
    return new Promise((resolve) => {
      this.wake = resolve;
      if (this.readPhase === "idle") this.readDeadline = Date.now() + this.limits.idleTimeoutMs;
    });
  }

  /** The per-socket loop: one request at a time, responses in request order. */
  private async run(): Promise<void> {
    while (!this.closed) {
      const item = this.take();
      if (item === undefined) {
        if (this.readEnded || this.shuttingDown) break;
        await this.waitForWork();
        continue;
      }
      if (item.kind === "continue") {
        this.write(continueResponse);
        this.flush();
        this.continuePending = false;
        this.updateReadClock(); // the body clock starts now
        continue;
      }
      if (item.kind === "error") {
        // The request was refused before it was whole, so its X-Request-Id is not known.
        this.write(serializeResponse(httpErrorResponse(item.error), closeAfter, generatedRequestId()));
        break;
      }
      const result = this.respond(item.request);
      const keepAlive = typeof result === "boolean" ? result : await result;
      if (!keepAlive) break;
      if (this.socket.writableLength + this.outBytes > this.limits.writeBufferBytesMax && !(await this.drained())) return;
    }
    this.finish();
  }

  private take(): QueueItem | undefined {
    const item = this.queue.shift();
    if (item !== undefined && this.paused) this.pump(); // room again: parse what waits, resume reading
    return item;
  }

  /** Run the handler; synchronous results are written without a trip through the microtask queue. */
  private respond(request: HttpRequest): boolean | Promise<boolean> {
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.options.handler(request);
    } catch (err) {
      return this.answer(request, this.handlerFailed(err, request));
    }
    if (!isPromiseLike(result)) return this.answer(request, result);
    this.flush(); // earlier pipelined answers must not wait for this handler
    return this.awaitHandler(result).then(
      (response) => this.answer(request, response),
      (err: unknown) => this.answer(request, this.handlerFailed(err, request)),
    );
  }

  private awaitHandler(pending: Promise<HttpResponse>): Promise<HttpResponse> {
    this.loopPhase = "handler";
    this.loopDeadline = Date.now() + this.limits.handlerTimeoutMs;
    return new Promise<HttpResponse>((resolve, reject) => {
      this.abortHandler = () => resolve(handlerTimeout);
      pending.then(resolve, reject);
    }).finally(() => {
      this.abortHandler = undefined;
      this.loopPhase = "none";
      this.loopDeadline = Infinity;
    });
  }

  private handlerFailed(err: unknown, request: HttpRequest): HttpResponse {
    if (err instanceof AssertionError) throw err; // a bug: crash, as lib/assert.ts promises
    this.options.log.error("handler failed", { method: request.method, path: request.path, error: String(err) });
    return internalError;
  }

  /** Queue the response; returns whether the connection stays open after it. */
  private answer(request: HttpRequest, response: HttpResponse): boolean {
    if (this.closed) return false;
    const close = !request.keepAlive || this.shuttingDown;
    const framing = framingFor(request, close);
    let bytes: string | Buffer;
    try {
      bytes = serializeResponse(response, framing, request.requestId);
    } catch (err) {
      this.options.log.error("handler returned a bad response", { path: request.path, error: String(err) });
      bytes = serializeResponse(internalError, framing, request.requestId);
    }
    this.write(bytes);
    return !close;
  }

  private write(bytes: string | Buffer): void {
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (typeof bytes !== "string") this.outStrings = false;
    if (this.outBytes > this.limits.writeBufferBytesMax) this.flush();
  }

  /** Hand queued responses to the socket in one write (one syscall for a pipelined batch). */
  private flush(): void {
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    this.outBytes = 0;
    const strings = this.outStrings;
    this.outStrings = true;
    if (this.closed) return;
    if (out.length === 1) this.socket.write(out[0] as string | Buffer);
    else if (strings) this.socket.write(out.join(""));
    else {
      this.socket.cork();
      for (const bytes of out) this.socket.write(bytes);
      this.socket.uncork();
    }
  }

  /** Output backpressure: wait until the socket's buffer drains, or the write timeout drops it. */
  private async drained(): Promise<boolean> {
    this.flush();
    if (this.socket.writableLength <= this.limits.writeBufferBytesMax) return true;
    this.loopPhase = "write";
    this.loopDeadline = Date.now() + this.limits.writeTimeoutMs;
    await new Promise<void>((resolve) => {
      this.drainWaiter = resolve;
    });
    this.drainWaiter = undefined;
    this.loopPhase = "none";
    this.loopDeadline = Infinity;
    return !this.closed;
  }

  /**
   * Last response written: send FIN once it is flushed, discard further input, and destroy the
   * socket lingerMs after the flush (or writeTimeoutMs after now, if the client stops reading).
   */
  private finish(): void {
    this.flush();
    if (this.closed) return;
    this.discarding = true;
    this.paused = false;
    this.socket.resume();
    this.updateReadClock();
    this.loopPhase = "write";
    this.loopDeadline = Date.now() + this.limits.writeTimeoutMs;
    this.socket.end(() => {
      this.loopPhase = "linger";
      this.loopDeadline = Date.now() + this.limits.lingerMs;
    });
  }

  private crash(err: unknown): void {
    this.destroy();
    // Bugs crash the process (lib/assert.ts); anything else would be a bug here too, but it
    // stays confined to this connection.
    if (err instanceof AssertionError) {
      process.nextTick(() => {
        throw err;
      });
    }
    this.options.log.error("connection loop failed", { error: String(err) });
  }
}
