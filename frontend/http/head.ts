// Pure helpers that turn the text of a request head into its parts: the request line
// (RFC 9112 §3), the field lines (§5), and what they say about framing (§6) and the
// connection (§9.3). They see complete text only; the incremental work is in parser.ts.
// Head text is latin1-decoded bytes, so every byte is one char and 0x80-0xff stay obs-text.

import { randomUUID } from "node:crypto";
import { AssertionError } from "../../lib/assert.ts";
import { HttpError } from "./errors.ts";
import type { HttpErrorCode } from "./errors.ts";
import { methodBytesMax, versionBytes } from "./limits.ts";
import { isTraceId } from "../../lib/protocol.ts";

export type HttpVersion = "1.0" | "1.1";
/** Field names lower-cased; repeated fields joined with ", " (RFC 9110 §5.3). The objects have
 * no Object.prototype in their chain (see newHeaders), so use `in` or Object.hasOwn. */
export type HttpHeaders = Record<string, string>;

export type RequestLine = {
  readonly method: string;
  readonly target: string;
  readonly path: string;
  readonly query: string;
  readonly version: HttpVersion;
};

export type Framing =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

/** tchar, RFC 9110 §5.6.2: method and field names are tokens. */
const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Not a field-value char (RFC 9110 §5.5: VCHAR, obs-text, SP, HTAB): CTLs, DEL, bare CR/LF, NUL. */
const fieldValueBadRe = /[^\t\x20-\x7e\x80-\xff]/;
/** Not a request-target char: only visible US-ASCII (RFC 9112 §3.2, RFC 3986 §2), no fragment. */
const targetBadRe = /[^\x21\x22\x24-\x7e]/;
/** absolute-form scheme and authority (RFC 9112 §3.2.2, RFC 3986 §3). */
const absolutePrefixRe = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/;
const versionRe = /^HTTP\/\d\.\d$/;
/** Methods known to be tokens, so the usual request skips the token regex (and metrics label by name). */
export const commonMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]);
const digitsRe = /^\d+$/;
/** More digits than this cannot be a length we accept, and could lose precision as a number. */
const contentLengthDigitsMax = 15;
const noFraming: Framing = { kind: "none" };
const chunkedFraming: Framing = { kind: "chunked" };

const badLine = (message: string): HttpError => new HttpError("ERR_BAD_REQUEST_LINE", message);
const badHeader = (message: string): HttpError => new HttpError("ERR_BAD_HEADER", message);

/**
 * The length rules of the request line, checked in byte order (method, target, version). They
 * are monotonic, so a prefix that breaks one gives the same error as the whole line: the
 * parser can apply them to a line still arriving, and whole or split input ends the same way.
 */
export function requestLineLengthError(line: string, targetBytesMax: number): HttpError | undefined {
  const sp1 = line.indexOf(" ");
  if ((sp1 === -1 ? line.length : sp1) > methodBytesMax) return badLine("request method is too long");
  if (sp1 === -1) return undefined;
  const sp2 = line.indexOf(" ", sp1 + 1);
  if ((sp2 === -1 ? line.length : sp2) - sp1 - 1 > targetBytesMax) {
    return new HttpError("ERR_TARGET_TOO_LONG", "request target is too long");
  }
  if (sp2 === -1) return undefined;
  if (line.length - sp2 - 1 > versionBytes) return badLine("malformed HTTP version");
  return undefined;
}

/** request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only. */
export function parseRequestLine(line: string, targetBytesMax: number): RequestLine | HttpError {
  const lengthError = requestLineLengthError(line, targetBytesMax);
  if (lengthError) return lengthError;
  const sp1 = line.indexOf(" ");
  const sp2 = sp1 === -1 ? -1 : line.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || sp2 === sp1 + 1) return badLine("malformed request line");
  const method = line.slice(0, sp1);
  if (!commonMethods.has(method) && !tokenRe.test(method)) return badLine("malformed request method");
  const versionText = line.slice(sp2 + 1);
  // §2.3: only 1.0 and 1.1 are spoken here; any other well-formed version (the HTTP/2
  // preface "PRI * HTTP/2.0" included) is 505 rather than a guess at its framing.
  let version: HttpVersion;
  if (versionText === "HTTP/1.1") version = "1.1";
  else if (versionText === "HTTP/1.0") version = "1.0";
  else if (versionRe.test(versionText)) return new HttpError("ERR_VERSION_NOT_SUPPORTED", `${versionText} is not supported`);
  else return badLine("malformed HTTP version");
  const target = line.slice(sp1 + 1, sp2);
  if (targetBadRe.test(target)) return new HttpError("ERR_BAD_TARGET", "invalid character in request target");
  const split = splitTarget(method, target);
  if (split instanceof HttpError) return split;
  return { method, target, path: split.path, query: split.query, version };
}

/** The four request-target forms, RFC 9112 §3.2; path is raw (not percent-decoded). */
function splitTarget(method: string, target: string): { path: string; query: string } | HttpError {
  let pathAndQuery: string;
  if (target.charCodeAt(0) === 0x2f) {
    pathAndQuery = target; // §3.2.1 origin-form
  } else if (target === "*") {
    // §3.2.4 asterisk-form is only for a server-wide OPTIONS.
    if (method !== "OPTIONS") return new HttpError("ERR_BAD_TARGET", "asterisk-form target is only for OPTIONS");
    return { path: "*", query: "" };
  } else if (method === "CONNECT") {
    return { path: target, query: "" }; // §3.2.3 authority-form; the router will refuse it
  } else {
    const prefix = absolutePrefixRe.exec(target); // §3.2.2 absolute-form: servers MUST accept it
    if (!prefix) return new HttpError("ERR_BAD_TARGET", "malformed request target");
    const rest = target.slice(prefix[0].length);
    pathAndQuery = rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
  }
  const q = pathAndQuery.indexOf("?");
  if (q === -1) return { path: pathAndQuery, query: "" };
  return { path: pathAndQuery.slice(0, q), query: pathAndQuery.slice(q + 1) };
}

/** Every line a field line (§5.1: token ":" field-value, no space before the colon, no obs-fold),
 * in one linear pass of the regex engine; it has no nested quantifiers, so it cannot backtrack. */
const fieldBlockRe = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/;

/** Header objects inherit from an empty null-prototype object: as fast as a literal, yet a
 * "__proto__" or "constructor" field from the wire is just a field. */
const fieldsPrototype: object = Object.freeze(Object.create(null));

export function newHeaders(): HttpHeaders {
  return Object.create(fieldsPrototype) as HttpHeaders;
}

/**
 * Field lines (RFC 9112 §5), each ending in CRLF. Fills `into` when given (headers); without it
 * only validates (trailers, which are tolerated and dropped: §7.1.2 lets us discard them).
 */
export function parseFieldLines(
  block: string,
  countMax: number,
  tooManyCode: HttpErrorCode,
  into: HttpHeaders | undefined,
): HttpError | undefined {
  // The usual case: the whole block is valid, so split it without checking each line again.
  if (!fieldBlockRe.test(block)) return fieldLinesError(block, countMax, tooManyCode);
  let count = 0;
  for (let start = 0; start < block.length;) {
    const colon = block.indexOf(":", start);
    const eol = block.indexOf("\r\n", colon);
    if (++count > countMax) return new HttpError(tooManyCode, `more than ${countMax} header fields`);
    if (into !== undefined) {
      let from = colon + 1;
      let to = eol;
      while (from < to && isOws(block.charCodeAt(from))) from++;
      while (to > from && isOws(block.charCodeAt(to - 1))) to--;
      const error = addField(into, block.slice(start, colon).toLowerCase(), block.slice(from, to));
      if (error) return error;
    }
    start = eol + 2;
  }
  return undefined;
}

/** The first problem in an invalid field block, line by line, each rule cited. */
function fieldLinesError(block: string, countMax: number, tooManyCode: HttpErrorCode): HttpError {
  let count = 0;
  for (let start = 0; start < block.length;) {
    const eol = block.indexOf("\r\n", start);
    if (++count > countMax) return new HttpError(tooManyCode, `more than ${countMax} header fields`);
    const first = block.charCodeAt(start);
    // §5.2: a server MUST reject obs-fold with 400 or unfold it; folding is a smuggling vector.
    if (first === 0x20 || first === 0x09) return badHeader("obsolete line folding is not accepted");
    const colon = block.indexOf(":", start);
    if (colon === -1 || colon > eol) return badHeader("header line without a colon");
    const name = block.slice(start, colon);
    // §5.1: whitespace between name and colon MUST be rejected with 400; the token rule does it.
    if (!tokenRe.test(name)) return badHeader("invalid header name");
    let from = colon + 1;
    let to = eol;
    while (from < to && isOws(block.charCodeAt(from))) from++;
    while (to > from && isOws(block.charCodeAt(to - 1))) to--;
    if (fieldValueBadRe.test(block.slice(from, to))) return badHeader(`invalid value in header ${name}`);
    start = eol + 2;
  }
  // fieldBlockRe refused the block, so some line above must have: a disagreement is a bug.
  throw new AssertionError("fieldBlockRe and fieldLinesError disagree");
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function addField(headers: HttpHeaders, name: string, value: string): HttpError | undefined {
  const previous = headers[name];
  if (previous === undefined) {
    headers[name] = value;
    return undefined;
  }
  // §6.3 item 5 and RFC 9110 §8.6: two Content-Length lines are how requests get smuggled;
  // refuse even identical ones. §3.2: more than one Host MUST get a 400.
  if (name === "content-length") return new HttpError("ERR_BAD_CONTENT_LENGTH", "duplicate Content-Length");
  if (name === "host") return new HttpError("ERR_BAD_HOST", "duplicate Host header");
  headers[name] = previous + (name === "cookie" ? "; " : ", ") + value;
  return undefined;
}

/** How the body is delimited, RFC 9112 §6.3, refusing every ambiguous case. */
export function framingOf(headers: HttpHeaders, version: HttpVersion, bodyBytesMax: number): Framing | HttpError {
  const te = headers["transfer-encoding"];
  const cl = headers["content-length"];
  if (te !== undefined) {
    // §6.3 item 3: with both, TE would win; we refuse instead, since whoever framed it by
    // Content-Length upstream would see a different request (smuggling).
    if (cl !== undefined) {
      return new HttpError("ERR_CONTENT_LENGTH_AND_TRANSFER_ENCODING", "both Content-Length and Transfer-Encoding");
    }
    // §6.1: TE in an HTTP/1.0 message MUST be treated as faulty framing.
    if (version === "1.0") return new HttpError("ERR_BAD_TRANSFER_ENCODING", "Transfer-Encoding in an HTTP/1.0 request");
    return chunkedOrError(te);
  }
  if (cl === undefined) return noFraming; // §6.3 item 7: a request without either has no body
  // §8.6 of RFC 9110: Content-Length = 1*DIGIT; anything else is unrecoverable (§6.3 item 5).
  if (!digitsRe.test(cl)) return new HttpError("ERR_BAD_CONTENT_LENGTH", "invalid Content-Length");
  const length = cl.length > contentLengthDigitsMax ? Infinity : Number(cl);
  if (length > bodyBytesMax) return new HttpError("ERR_BODY_TOO_LARGE", `body larger than ${bodyBytesMax} bytes`);
  return length === 0 ? noFraming : { kind: "length", length };
}

/** §6.1 and §6.3 item 4: only "chunked", once, and last; other codings are not implemented. */
function chunkedOrError(te: string): Framing | HttpError {
  const lower = te.toLowerCase();
  if (lower === "chunked") return chunkedFraming;
  const codings = lower.split(",").map((c) => c.trim()).filter((c) => c !== "");
  if (codings[codings.length - 1] !== "chunked") {
    return new HttpError("ERR_BAD_TRANSFER_ENCODING", "chunked is not the final transfer coding");
  }
  const others = codings.slice(0, -1);
  if (others.includes("chunked")) return new HttpError("ERR_BAD_TRANSFER_ENCODING", "chunked applied more than once");
  if (others.length > 0) return new HttpError("ERR_UNKNOWN_TRANSFER_CODING", `unsupported transfer coding ${others[0]}`);
  return chunkedFraming;
}

/** §9.3: 1.1 persists unless "close"; 1.0 closes unless "keep-alive". */
export function keepAliveOf(version: HttpVersion, connection: string | undefined): boolean {
  if (connection === undefined) return version === "1.1";
  const lower = connection.toLowerCase();
  if (lower === "close") return false;
  if (lower === "keep-alive") return true;
  const options = lower.split(",").map((o) => o.trim());
  if (options.includes("close")) return false;
  return version === "1.1" || options.includes("keep-alive");
}

/** RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored. */
export function expectsContinue(version: HttpVersion, expect: string | undefined): boolean {
  return version === "1.1" && expect !== undefined && expect.toLowerCase() === "100-continue";
}

/**
 * Generated ids: a random prefix per process and a counter, laid out as a UUID (RFC 9562; the
 * version 4 and variant bits are in the prefix). Unique, not unpredictable — a request id is a
 * label, not a secret — and without drawing random bytes per request, which cost about 4 % of a
 * cached lookup's CPU.
 */
const generatedIdPrefix = randomUUID().slice(0, 24);
const generatedIdCounterDigits = 12;
let generatedIds = 0;

/** A new request id, for a request without an acceptable X-Request-Id or refused before it was whole. */
export function generatedRequestId(): string {
  generatedIds++;
  return generatedIdPrefix + generatedIds.toString(16).padStart(generatedIdCounterDigits, "0");
}

/** The client's X-Request-Id when it is acceptable, otherwise a new one. */
export function requestIdOf(value: string | undefined): string {
  return isTraceId(value) ? value : generatedRequestId();
}

/** §3.2: an HTTP/1.1 request without Host MUST get a 400 (duplicates are refused in addField). */
export function hostError(version: HttpVersion, headers: HttpHeaders): HttpError | undefined {
  if (version === "1.1" && headers["host"] === undefined) return new HttpError("ERR_BAD_HOST", "missing Host header");
  return undefined;
}
