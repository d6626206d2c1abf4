// A pure, incremental HTTP/1.1 request parser (RFC 9112). Bytes go in with push(); next()
// returns the next complete request, "continue" (send 100 Continue now), "needMore", or an
// HttpError. It never touches a socket or a clock, so tests drive it byte by byte. Every limit
// is checked as the bytes arrive, and whole or split input always ends the same way. After an
// error the parser is dead: a stream framed wrongly once cannot be trusted (request smuggling).

import { Buffer } from "node:buffer";
import { assert, unreachable } from "../../lib/assert.ts";
import {
  expectsContinue,
  framingOf,
  hostError,
  keepAliveOf,
  newHeaders,
  parseFieldLines,
  parseRequestLine,
  requestIdOf,
  requestLineLengthError,
} from "./head.ts";
import type { HttpHeaders, HttpVersion, RequestLine } from "./head.ts";
import { HttpError } from "./errors.ts";
import type { HttpLimits } from "./limits.ts";
import { requestLineBytesMax } from "./limits.ts";

export type { HttpHeaders, HttpVersion } from "./head.ts";

export type HttpRequest = {
  readonly method: string;
  /** The request-target exactly as sent. */
  readonly target: string;
  /** The target's path, raw (not percent-decoded), before any "?". */
  readonly path: string;
  /** The raw query after "?", or "" when there is none. */
  readonly query: string;
  readonly version: HttpVersion;
  /** Lower-cased field names; repeated fields joined with ", ". */
  readonly headers: Readonly<HttpHeaders>;
  /** The decoded body (chunked framing removed); empty when there is none. */
  readonly body: Buffer;
  /** Whether the connection stays open after the response (RFC 9112 §9.3). */
  readonly keepAlive: boolean;
  readonly expectContinue: boolean;
  /** The client's X-Request-Id when it is 1 to requestIdBytesMax visible ASCII characters,
   * otherwise a generated UUID; every response to this request echoes it. */
  readonly requestId: string;
};

export type ParseEvent =
  | { readonly kind: "request"; readonly request: HttpRequest }
  /** The head of a request that expects 100-continue is complete and its body is not. */
  | { readonly kind: "continue" }
  | { readonly kind: "needMore" }
  | { readonly kind: "error"; readonly error: HttpError };

/** "idle": no byte of the next request yet; "requestLine" and "headers": the head is arriving;
 * the rest: the body is arriving; "failed": terminal. */
export type ParserState = "idle" | "requestLine" | "headers" | "body" | "chunkSize" | "chunkData" | "chunkDataEnd" | "trailers" | "failed";

export type ParserLimits = Pick<
  HttpLimits,
  "headerBytesMax" | "headerCountMax" | "requestTargetBytesMax" | "bodyBytesMax" | "chunkLineBytesMax" | "trailerBytesMax"
>;

const CR = 0x0d;
const LF = 0x0a;
const emptyLine = Buffer.from("\r\n\r\n", "latin1");
const emptyBody = Buffer.alloc(0);
const needMore: ParseEvent = { kind: "needMore" };
const continueEvent: ParseEvent = { kind: "continue" };
/** chunk-size [ chunk-ext ] (RFC 9112 §7.1.1): extensions are checked for bad bytes, then ignored. */
const chunkLineRe = /^([0-9A-Fa-f]+)(?:[\t ]*;[\t\x20-\x7e\x80-\xff]*)?$/;
/** 12 hex digits is 2^48, past any body limit and still exact as a number. */
const chunkSizeDigitsMax = 12;

export class HttpParser {
  private readonly limits: ParserLimits;
  private readonly lineMax: number;
  private current: ParserState = "idle";
  /** Received, unconsumed bytes are buf[pos..]. buf is a socket chunk, or a view of `store`. */
  private buf: Buffer = emptyBody;
  private pos = 0;
  private store: Buffer | undefined;
  /** Bytes after pos already searched for what the current state waits for (no rescans). */
  private scanned = 0;
  /** In "headers": offset from pos of the first field line. */
  private blockStart = 0;
  private line: RequestLine | undefined;
  private headers: HttpHeaders = newHeaders();
  private keepAlive = false;
  private expectContinue = false;
  private continueSent = false;
  /** Body bytes still expected: of the whole body (Content-Length) or of this chunk. */
  private remaining = 0;
  private bodyParts: Buffer[] = [];
  private bodyBytes = 0;
  private error: HttpError | undefined;

  constructor(limits: ParserLimits) {
    this.limits = limits;
    this.lineMax = requestLineBytesMax(limits.requestTargetBytesMax);
    // The request line is bounded before the head is (resolveLimits refuses other settings).
    assert(this.lineMax + 2 <= limits.headerBytesMax, "a whole request line fits in headerBytesMax");
  }

  get state(): ParserState {
    return this.current;
  }

  /** Bytes received and not yet consumed by a complete request. */
  get bufferedBytes(): number {
    return this.buf.length - this.pos;
  }

  push(chunk: Buffer): void {
    if (this.current === "failed" || chunk.length === 0) return;
    const rest = this.buf.length - this.pos;
    if (rest === 0) {
      this.buf = chunk; // the common case: no copy at all
      this.pos = 0;
      this.store = undefined;
      return;
    }
    const used = this.buf.length;
    if (this.store !== undefined && used + chunk.length <= this.store.length) {
      // Append after the bytes in use; views already handed out lie before them.
      chunk.copy(this.store, used);
      this.buf = this.store.subarray(0, used + chunk.length);
      return;
    }
    // Grow to twice what is needed, so a head arriving byte by byte costs O(n) copying.
    const store = Buffer.allocUnsafe(Math.max(2 * (rest + chunk.length), 4096));
    this.buf.copy(store, 0, this.pos);
    chunk.copy(store, rest);
    this.store = store;
    this.buf = store.subarray(0, rest + chunk.length);
    this.pos = 0;
  }

  /** The dispatch table: each state's reader returns an event, or undefined after a transition. */
  next(): ParseEvent {
    for (;;) {
      let event: ParseEvent | undefined;
      switch (this.current) {
        case "idle":
        case "requestLine":
          event = this.readRequestLine();
          break;
        case "headers":
          event = this.readHeaders();
          break;
        case "body":
          event = this.readBody();
          break;
        case "chunkSize":
          event = this.readChunkSize();
          break;
        case "chunkData":
          event = this.readChunkData();
          break;
        case "chunkDataEnd":
          event = this.readChunkDataEnd();
          break;
        case "trailers":
          event = this.readTrailers();
          break;
        case "failed":
          assert(this.error !== undefined, "a failed parser has its error");
          return { kind: "error", error: this.error };
        default:
          return unreachable(this.current, "parser state");
      }
      if (event !== undefined) return event;
    }
  }

  private readRequestLine(): ParseEvent | undefined {
    const buf = this.buf;
    if (this.current === "idle") {
      // §2.2: a server SHOULD ignore empty lines (CRLF) received before the request-line.
      while (this.pos + 1 < buf.length && buf[this.pos] === CR && buf[this.pos + 1] === LF) this.pos += 2;
      if (this.pos === buf.length || (this.pos + 1 === buf.length && buf[this.pos] === CR)) return needMore;
      this.current = "requestLine";
      // The usual case: the whole head is here. One search and one conversion for all of it.
      const end = buf.indexOf(emptyLine, this.pos);
      if (end !== -1 && end + 4 - this.pos <= this.limits.headerBytesMax) return this.readWholeHead(end);
    }
    const lf = buf.indexOf(LF, this.pos + this.scanned);
    if (lf === -1) {
      const length = buf.length - this.pos;
      // The +1 allows for a CR whose LF has not arrived yet.
      if (length <= this.lineMax + 1) {
        this.scanned = length;
        return needMore;
      }
      const error = requestLineLengthError(
        buf.toString("latin1", this.pos, this.pos + this.lineMax + 1),
        this.limits.requestTargetBytesMax,
      );
      assert(error !== undefined, "a request line longer than lineMax breaks a length rule");
      return this.fail(error);
    }
    // §2.2 allows a bare LF as line end; we refuse it, so there is one way to frame a stream.
    if (lf === this.pos || buf[lf - 1] !== CR) return this.fail(new HttpError("ERR_BAD_REQUEST_LINE", "request line must end with CRLF"));
    const line = parseRequestLine(buf.toString("latin1", this.pos, lf - 1), this.limits.requestTargetBytesMax);
    if (line instanceof HttpError) return this.fail(line);
    this.line = line;
    this.blockStart = lf + 1 - this.pos;
    this.scanned = this.blockStart;
    this.current = "headers";
    return undefined;
  }

  /** The same rules as readRequestLine and readHeaders, on a head that is all here. */
  private readWholeHead(end: number): ParseEvent | undefined {
    const head = this.buf.toString("latin1", this.pos, end + 2);
    const lf = head.indexOf("\n");
    if (lf === 0 || head.charCodeAt(lf - 1) !== CR) {
      return this.fail(new HttpError("ERR_BAD_REQUEST_LINE", "request line must end with CRLF"));
    }
    const line = parseRequestLine(head.slice(0, lf - 1), this.limits.requestTargetBytesMax);
    if (line instanceof HttpError) return this.fail(line);
    this.line = line;
    return this.finishHead(head.slice(lf + 1), end);
  }

  /** §2.1: the head ends at the first empty line; §5: field lines; §6.3: body length. */
  private readHeaders(): ParseEvent | undefined {
    const buf = this.buf;
    const pos = this.pos;
    // Search from the request line's CRLF (no fields) or just before the unsearched bytes.
    const end = buf.indexOf(emptyLine, pos + Math.max(this.blockStart - 2, this.scanned - 3));
    if (end === -1 || end + 4 - pos > this.limits.headerBytesMax) {
      if (buf.length - pos > this.limits.headerBytesMax) {
        return this.fail(new HttpError("ERR_HEADERS_TOO_LARGE", `request head larger than ${this.limits.headerBytesMax} bytes`));
      }
      this.scanned = buf.length - pos;
      return needMore;
    }
    return this.finishHead(buf.toString("latin1", pos + this.blockStart, end + 2), end);
  }

  /** The field lines are `block`; the head's empty line starts at `end`. */
  private finishHead(block: string, end: number): ParseEvent | undefined {
    const line = this.line;
    assert(line !== undefined, "headers follow a request line");
    const headers = newHeaders();
    const error = parseFieldLines(block, this.limits.headerCountMax, "ERR_HEADERS_TOO_LARGE", headers) ?? hostError(line.version, headers);
    if (error) return this.fail(error);
    const framing = framingOf(headers, line.version, this.limits.bodyBytesMax);
    if (framing instanceof HttpError) return this.fail(framing);
    this.pos = end + 4;
    this.scanned = 0;
    this.headers = headers;
    this.keepAlive = keepAliveOf(line.version, headers["connection"]);
    this.expectContinue = expectsContinue(line.version, headers["expect"]);
    if (framing.kind === "none") return this.complete(emptyBody);
    if (framing.kind === "length") {
      this.remaining = framing.length;
      this.current = "body";
    } else {
      this.current = "chunkSize";
    }
    return undefined;
  }

  /** §6.2: exactly Content-Length bytes. */
  private readBody(): ParseEvent | undefined {
    const available = this.buf.length - this.pos;
    if (this.bodyParts.length === 0 && available >= this.remaining) {
      // The whole body is here: hand out a view, no copy.
      const body = this.buf.subarray(this.pos, this.pos + this.remaining);
      this.pos += this.remaining;
      return this.complete(body);
    }
    this.takeBody(Math.min(available, this.remaining));
    return this.remaining > 0 ? this.waitForBody() : this.complete(this.joinBody());
  }

  /** §7.1: chunk-size [ chunk-ext ] CRLF, the size in hex. */
  private readChunkSize(): ParseEvent | undefined {
    const buf = this.buf;
    const lf = buf.indexOf(LF, this.pos + this.scanned);
    if ((lf === -1 ? buf.length : lf + 1) - this.pos > this.limits.chunkLineBytesMax) {
      return this.fail(new HttpError("ERR_BAD_CHUNK", "chunk size line is too long"));
    }
    if (lf === -1) {
      this.scanned = buf.length - this.pos;
      return this.waitForBody();
    }
    if (lf === this.pos || buf[lf - 1] !== CR) return this.fail(new HttpError("ERR_BAD_CHUNK", "chunk size line must end with CRLF"));
    const match = chunkLineRe.exec(buf.toString("latin1", this.pos, lf - 1));
    if (!match) return this.fail(new HttpError("ERR_BAD_CHUNK", "malformed chunk size"));
    const size = chunkSize(match[1] as string);
    if (this.bodyBytes + size > this.limits.bodyBytesMax) {
      return this.fail(new HttpError("ERR_BODY_TOO_LARGE", `body larger than ${this.limits.bodyBytesMax} bytes`));
    }
    this.pos = lf + 1;
    this.scanned = 0;
    this.remaining = size;
    this.current = size === 0 ? "trailers" : "chunkData"; // §7.1: last-chunk is size 0
    return undefined;
  }

  private readChunkData(): ParseEvent | undefined {
    this.takeBody(Math.min(this.buf.length - this.pos, this.remaining));
    if (this.remaining > 0) return this.waitForBody();
    this.current = "chunkDataEnd";
    return undefined;
  }

  /** §7.1: chunk-data is followed by exactly CRLF. */
  private readChunkDataEnd(): ParseEvent | undefined {
    const buf = this.buf;
    const available = buf.length - this.pos;
    if ((available >= 1 && buf[this.pos] !== CR) || (available >= 2 && buf[this.pos + 1] !== LF)) {
      return this.fail(new HttpError("ERR_BAD_CHUNK", "chunk data must end with CRLF"));
    }
    if (available < 2) return this.waitForBody();
    this.pos += 2;
    this.current = "chunkSize";
    return undefined;
  }

  /** §7.1.2: trailer-section CRLF. Trailers are validated, bounded, then dropped. */
  private readTrailers(): ParseEvent | undefined {
    const buf = this.buf;
    const pos = this.pos;
    const available = buf.length - pos;
    if (available >= 2 && buf[pos] === CR && buf[pos + 1] === LF) {
      this.pos += 2;
      return this.complete(this.joinBody());
    }
    if (available === 0 || (available === 1 && buf[pos] === CR)) return this.waitForBody();
    const end = buf.indexOf(emptyLine, pos + Math.max(0, this.scanned - 3));
    if (end === -1 || end + 4 - pos > this.limits.trailerBytesMax) {
      if (available > this.limits.trailerBytesMax) {
        return this.fail(new HttpError("ERR_TRAILERS_TOO_LARGE", `trailers larger than ${this.limits.trailerBytesMax} bytes`));
      }
      this.scanned = available;
      return this.waitForBody();
    }
    const block = buf.toString("latin1", pos, end + 2);
    const error = parseFieldLines(block, this.limits.headerCountMax, "ERR_TRAILERS_TOO_LARGE", undefined);
    if (error) return this.fail(error);
    this.pos = end + 4;
    return this.complete(this.joinBody());
  }

  private takeBody(n: number): void {
    if (n === 0) return;
    this.bodyParts.push(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    this.remaining -= n;
    this.bodyBytes += n;
  }

  private joinBody(): Buffer {
    const parts = this.bodyParts;
    if (parts.length === 0) return emptyBody;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.bodyBytes);
  }

  /** RFC 9110 §10.1.1: the client waits for 100 Continue before sending the body. */
  private waitForBody(): ParseEvent {
    if (!this.expectContinue || this.continueSent) return needMore;
    this.continueSent = true;
    return continueEvent;
  }

  /** Transition: a request is complete; back to "idle" for the next one on the connection. */
  private complete(body: Buffer): ParseEvent {
    const line = this.line;
    assert(line !== undefined, "a complete request has a request line");
    const request: HttpRequest = {
      method: line.method,
      target: line.target,
      path: line.path,
      query: line.query,
      version: line.version,
      headers: this.headers,
      body,
      keepAlive: this.keepAlive,
      expectContinue: this.expectContinue,
      requestId: requestIdOf(this.headers["x-request-id"]),
    };
    this.line = undefined;
    this.continueSent = false;
    this.remaining = 0;
    this.scanned = 0;
    if (this.bodyBytes > 0) {
      this.bodyParts = [];
      this.bodyBytes = 0;
    }
    if (this.pos === this.buf.length) this.release();
    this.current = "idle";
    return { kind: "request", request };
  }

  /** Transition: terminal failure; later calls to next() return the same error. */
  private fail(error: HttpError): ParseEvent {
    this.error = error;
    this.current = "failed";
    this.release();
    this.bodyParts = [];
    return { kind: "error", error };
  }

  /** Drop consumed input so a finished chunk can be collected (views handed out keep theirs). */
  private release(): void {
    this.buf = emptyBody;
    this.pos = 0;
    this.store = undefined;
  }
}

function chunkSize(hex: string): number {
  let zeros = 0;
  while (zeros < hex.length - 1 && hex.charCodeAt(zeros) === 0x30) zeros++;
  // Too many digits is a size past any limit (and past exact numbers): report it as too large.
  if (hex.length - zeros > chunkSizeDigitsMax) return Infinity;
  return Number.parseInt(hex.slice(zeros), 16);
}
