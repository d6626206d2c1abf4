// Parser behaviour, byte by byte. Every case runs on the whole input, on the input split in two
// at every byte boundary, and fed one byte at a time: all must end the same way. Each limit is
// tested at the limit and one past it; hostile input must end in the right typed error.

import { Buffer } from "node:buffer";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { HttpErrorCode } from "./errors.ts";
import { defaultLimits } from "./limits.ts";
import { HttpParser } from "./parser.ts";
import type { ParserLimits } from "./parser.ts";

type Summary = {
  method: string;
  target: string;
  path: string;
  query: string;
  version: string;
  headers: Record<string, string>;
  body: string;
  keepAlive: boolean;
  expectContinue: boolean;
};
type Outcome = { requests: Summary[]; error: HttpErrorCode | undefined; status: number | undefined };
type Expected = { requests?: Partial<Summary>[]; error?: HttpErrorCode; status?: number };

/** Small limits so that limit cases stay short enough to split at every byte. */
const small: ParserLimits = {
  headerBytesMax: 200,
  headerCountMax: 4,
  requestTargetBytesMax: 40,
  bodyBytesMax: 20,
  chunkLineBytesMax: 16,
  trailerBytesMax: 30,
};

function drain(parser: HttpParser, outcome: Outcome): void {
  for (;;) {
    const event = parser.next();
    if (event.kind === "needMore") return;
    if (event.kind === "continue") continue;
    if (event.kind === "error") {
      outcome.error = event.error.code;
      outcome.status = event.error.status;
      return;
    }
    const r = event.request;
    outcome.requests.push({
      method: r.method,
      target: r.target,
      path: r.path,
      query: r.query,
      version: r.version,
      headers: { ...r.headers },
      body: r.body.toString("latin1"),
      keepAlive: r.keepAlive,
      expectContinue: r.expectContinue,
    });
  }
}

function run(chunks: Buffer[], limits: ParserLimits): Outcome {
  const parser = new HttpParser(limits);
  const outcome: Outcome = { requests: [], error: undefined, status: undefined };
  for (const chunk of chunks) {
    parser.push(chunk);
    drain(parser, outcome);
    if (outcome.error !== undefined) break;
  }
  return outcome;
}

/** The whole input, every two-way split, and one byte at a time. */
function everySplit(input: Buffer): { how: string; chunks: Buffer[] }[] {
  const ways = [{ how: "whole", chunks: [input] }];
  for (let at = 1; at < input.length; at++) ways.push({ how: `split at ${at}`, chunks: [input.subarray(0, at), input.subarray(at)] });
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  ways.push({ how: "byte by byte", chunks: bytes });
  return ways;
}

function expectOutcome(actual: Outcome, expected: Expected, how: string): void {
  assert.is(actual.error, expected.error, `${how}: error`);
  if (expected.status !== undefined) assert.is(actual.status, expected.status, `${how}: status`);
  const wanted = expected.requests ?? [];
  assert.is(actual.requests.length, wanted.length, `${how}: number of requests`);
  wanted.forEach((want, i) => {
    const got = actual.requests[i] as Summary;
    for (const key of Object.keys(want) as (keyof Summary)[]) assert.equal(got[key], want[key], `${how}: request ${i} ${key}`);
  });
}

function check(name: string, input: string | Buffer, expected: Expected, limits: ParserLimits = defaultLimits): void {
  test(name, () => {
    const bytes = typeof input === "string" ? Buffer.from(input, "latin1") : input;
    for (const { how, chunks } of everySplit(bytes)) expectOutcome(run(chunks, limits), expected, how);
  });
}

const get = (target = "/", extra = ""): string => `GET ${target} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;

// --- well-formed requests -------------------------------------------------------------------

check(
  "a GET is parsed with lower-cased header names and keep-alive by default",
  "GET /stocks/GameStart HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n",
  {
    requests: [{
      method: "GET",
      path: "/stocks/GameStart",
      query: "",
      version: "1.1",
      headers: { host: "example", "user-agent": "t" },
      body: "",
      keepAlive: true,
    }],
  },
);
check("the query is split from the path, raw", get("/a%20b?x=1&y=%2F"), {
  requests: [{ target: "/a%20b?x=1&y=%2F", path: "/a%20b", query: "x=1&y=%2F" }],
});
check("Connection: close ends keep-alive in HTTP/1.1", get("/", "Connection: close\r\n"), { requests: [{ keepAlive: false }] });
check("connection options are a case-insensitive list", get("/", "Connection: Upgrade, CLOSE\r\n"), { requests: [{ keepAlive: false }] });
check("HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", { requests: [{ version: "1.0", keepAlive: false }] });
check("HTTP/1.0 keeps alive with Connection: keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", {
  requests: [{ keepAlive: true }],
});
check("a Content-Length body is read exactly", "POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", {
  requests: [{ method: "POST", body: "hello" }],
});
check("Content-Length with leading zeros is a length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc", {
  requests: [{ body: "abc" }],
});
check("Content-Length: 0 is an empty body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", { requests: [{ body: "" }] });
check(
  "a chunked body is decoded, extensions ignored, trailers dropped",
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5;ext=1\r\nhello\r\nA ; x="y"\r\n, world!!!\r\n000\r\nX-Sum: 1\r\n\r\n',
  { requests: [{ body: "hello, world!!!", headers: { host: "a", "transfer-encoding": "Chunked" } }] },
);
check(
  "pipelined requests come out in order",
  `${get("/1")}POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi${get("/3", "Connection: close\r\n")}`,
  {
    requests: [{ path: "/1", body: "" }, { path: "/2", body: "hi" }, { path: "/3", keepAlive: false }],
  },
);
check("empty lines before a request line are ignored", `\r\n\r\n${get("/x")}`, { requests: [{ path: "/x" }] });
check("repeated fields are joined, cookies with a semicolon", get("/", "Accept: a\r\naccept: b\r\nCookie: x=1\r\nCookie: y=2\r\n"), {
  requests: [{ headers: { host: "a", accept: "a, b", cookie: "x=1; y=2" } }],
});
check("optional whitespace around a value is trimmed, an empty value kept", get("/", "X-A: \t v \t\r\nX-B:\r\n"), {
  requests: [{ headers: { host: "a", "x-a": "v", "x-b": "" } }],
});
check("obs-text bytes in a value are kept as latin1", get("/", "X-A: caf\xe9\r\n"), {
  requests: [{ headers: { host: "a", "x-a": "caf\xe9" } }],
});
check("a __proto__ header is a plain field", get("/", "__proto__: x\r\n"), {
  requests: [{ headers: JSON.parse('{"host":"a","__proto__":"x"}') as Record<string, string> }],
});
check("absolute-form targets are accepted (RFC 9112 §3.2.2)", "GET http://example.com/s?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", {
  requests: [{ path: "/s", query: "q=1" }],
});
check("OPTIONS * is the asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", { requests: [{ path: "*" }] });
check("CONNECT has the authority form as its path", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", {
  requests: [{ method: "CONNECT", path: "example.com:443", query: "" }],
});
check("HTTP/1.0 needs no Host", "GET / HTTP/1.0\r\n\r\n", { requests: [{ headers: {} }] });
check("Expect: 100-continue is reported", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", {
  requests: [{ expectContinue: true }],
});
check("Expect: 100-continue is ignored in HTTP/1.0", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", {
  requests: [{ expectContinue: false }],
});

// --- malformed and hostile input ----------------------------------------------------------------

check("an HTTP/0.9 request line is refused", "GET /\r\n\r\n", { error: "ERR_BAD_REQUEST_LINE", status: 400 });
check("a bare LF ending the request line is refused", "GET / HTTP/1.1\nHost: a\n\n", { error: "ERR_BAD_REQUEST_LINE" });
check("a lone LF before the request line is refused", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_REQUEST_LINE" });
check("two spaces in the request line are refused", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_REQUEST_LINE" });
check("trailing space in the request line is refused", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", { error: "ERR_BAD_REQUEST_LINE" });
check("a method that is not a token is refused", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_REQUEST_LINE" });
check("a lower-case protocol name is refused", "GET / http/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_REQUEST_LINE" });
check("a NUL in the request line is refused", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_TARGET" });
check("a non-ASCII byte in the target is refused", "GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_TARGET" });
check("a fragment in the target is refused", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_TARGET" });
check("a target in no known form is refused", "GET stocks HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_TARGET" });
check("asterisk form is only for OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", { error: "ERR_BAD_TARGET" });
check("HTTP/2.0 is not supported", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", { error: "ERR_VERSION_NOT_SUPPORTED", status: 505 });
check("HTTP/1.2 is not supported", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", { error: "ERR_VERSION_NOT_SUPPORTED" });
check("the HTTP/2 connection preface gets 505", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", { error: "ERR_VERSION_NOT_SUPPORTED" });
check(
  "a TLS ClientHello is refused at its first LF",
  Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0a]),
  { error: "ERR_BAD_REQUEST_LINE" },
);
check("a header line without a colon is refused", get("/", "NoColon\r\n"), { error: "ERR_BAD_HEADER", status: 400 });
check("whitespace before the colon is refused (RFC 9112 §5.1)", get("/", "X-A : v\r\n"), { error: "ERR_BAD_HEADER" });
check("an empty header name is refused", get("/", ": v\r\n"), { error: "ERR_BAD_HEADER" });
check("obs-fold is refused (RFC 9112 §5.2)", get("/", "X-A: v\r\n  folded\r\n"), { error: "ERR_BAD_HEADER" });
check("a NUL in a header value is refused", get("/", "X-A: a\x00b\r\n"), { error: "ERR_BAD_HEADER" });
check("a NUL in a header name is refused", get("/", "X\x00A: b\r\n"), { error: "ERR_BAD_HEADER" });
check("a bare CR in a header value is refused", get("/", "X-A: a\rb\r\n"), { error: "ERR_BAD_HEADER" });
check("a bare LF inside the header block is refused", get("/", "X-A: a\nX-B: b\r\n"), { error: "ERR_BAD_HEADER" });
check("HTTP/1.1 without Host is refused (RFC 9112 §3.2)", "GET / HTTP/1.1\r\n\r\n", { error: "ERR_BAD_HOST", status: 400 });
check("two Host fields are refused", get("/", "Host: b\r\n"), { error: "ERR_BAD_HOST" });
check(
  "Content-Length with Transfer-Encoding is refused",
  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  {
    error: "ERR_CONTENT_LENGTH_AND_TRANSFER_ENCODING",
    status: 400,
  },
);
check("two equal Content-Length fields are refused", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", {
  error: "ERR_BAD_CONTENT_LENGTH",
});
check("a Content-Length list is refused", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", {
  error: "ERR_BAD_CONTENT_LENGTH",
});
check("a non-numeric Content-Length is refused", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", {
  error: "ERR_BAD_CONTENT_LENGTH",
});
check("a negative Content-Length is refused", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", {
  error: "ERR_BAD_CONTENT_LENGTH",
});
check("a signed Content-Length is refused", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", {
  error: "ERR_BAD_CONTENT_LENGTH",
});
check("an empty Content-Length is refused", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", { error: "ERR_BAD_CONTENT_LENGTH" });
check("a huge Content-Length is too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", {
  error: "ERR_BODY_TOO_LARGE",
  status: 413,
});
check("a coding other than chunked alone is refused", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", {
  error: "ERR_BAD_TRANSFER_ENCODING",
  status: 400,
});
check("an unknown coding before chunked is not implemented", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", {
  error: "ERR_UNKNOWN_TRANSFER_CODING",
  status: 501,
});
check("chunked twice is refused", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", {
  error: "ERR_BAD_TRANSFER_ENCODING",
});
check("Transfer-Encoding in HTTP/1.0 is refused", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {
  error: "ERR_BAD_TRANSFER_ENCODING",
});
const chunked = (body: string): string => `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
check("a chunk size that is not hex is refused", chunked("zz\r\n"), { error: "ERR_BAD_CHUNK" });
check("a negative chunk size is refused", chunked("-1\r\n"), { error: "ERR_BAD_CHUNK" });
check("a 0x chunk size is refused", chunked("0x5\r\nhello\r\n0\r\n\r\n"), { error: "ERR_BAD_CHUNK" });
check("space before a chunk size is refused", chunked(" 5\r\nhello\r\n0\r\n\r\n"), { error: "ERR_BAD_CHUNK" });
check("an empty chunk size is refused", chunked("\r\n"), { error: "ERR_BAD_CHUNK" });
check("a chunk size overflow is too large", chunked("fffffffffffffffffffffff\r\n"), { error: "ERR_BODY_TOO_LARGE" });
check("a bare LF after a chunk size is refused", chunked("5\nhello\r\n0\r\n\r\n"), { error: "ERR_BAD_CHUNK" });
check("chunk data not followed by CRLF is refused", chunked("5\r\nhelloX\r\n0\r\n\r\n"), { error: "ERR_BAD_CHUNK" });
check("chunk data followed by a bare LF is refused", chunked("5\r\nhello\n0\r\n\r\n"), { error: "ERR_BAD_CHUNK" });
check("a control byte in a chunk extension is refused", chunked("5;a=\x01\r\nhello\r\n0\r\n\r\n"), { error: "ERR_BAD_CHUNK" });
check("a malformed trailer is refused", chunked("0\r\nbad trailer\r\n\r\n"), { error: "ERR_BAD_HEADER" });
const smuggled = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
check("a request inside a body stays body", `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`, {
  requests: [{ body: smuggled }],
});

// --- limits, at the limit and one past it ---------------------------------------------------------

/** A request whose head is exactly `bytes` long, padded in one header value. */
function headOf(bytes: number): string {
  const fixed = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".length;
  return `GET / HTTP/1.1\r\nHost: a\r\nX: ${"v".repeat(bytes - fixed)}\r\n\r\n`;
}
check("a head of exactly headerBytesMax is accepted", headOf(small.headerBytesMax), { requests: [{ path: "/" }] }, small);
check(
  "a head one byte over headerBytesMax gets 431",
  headOf(small.headerBytesMax + 1),
  { error: "ERR_HEADERS_TOO_LARGE", status: 431 },
  small,
);
check("a head without end gets 431 once past the limit", `GET / HTTP/1.1\r\nX: ${"v".repeat(small.headerBytesMax)}`, {
  error: "ERR_HEADERS_TOO_LARGE",
}, small);
const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");
check(
  "headerCountMax fields are accepted",
  `GET / HTTP/1.0\r\n${fields(small.headerCountMax)}\r\n`,
  { requests: [{ version: "1.0" }] },
  small,
);
check("one field over headerCountMax gets 431", `GET / HTTP/1.0\r\n${fields(small.headerCountMax + 1)}\r\n`, {
  error: "ERR_HEADERS_TOO_LARGE",
}, small);
const target = (n: number): string => `/${"t".repeat(n - 1)}`;
check("a target of requestTargetBytesMax is accepted", get(target(small.requestTargetBytesMax)), {
  requests: [{ path: target(small.requestTargetBytesMax) }],
}, small);
check(
  "a target one byte longer gets 414",
  get(target(small.requestTargetBytesMax + 1)),
  { error: "ERR_TARGET_TOO_LONG", status: 414 },
  small,
);
check("an endless request line gets 414 before the head limit", `GET /${"t".repeat(small.headerBytesMax)}`, {
  error: "ERR_TARGET_TOO_LONG",
}, small);
check(
  "a method of 32 bytes is accepted",
  `${"M".repeat(32)} / HTTP/1.1\r\nHost: a\r\n\r\n`,
  { requests: [{ method: "M".repeat(32) }] },
  small,
);
check("a method of 33 bytes is refused", `${"M".repeat(33)} / HTTP/1.1\r\nHost: a\r\n\r\n`, { error: "ERR_BAD_REQUEST_LINE" }, small);
check(
  "an endless method is refused before the head limit",
  "M".repeat(small.headerBytesMax + 10),
  { error: "ERR_BAD_REQUEST_LINE" },
  small,
);
const post = (length: number, body: string): string => `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${length}\r\n\r\n${body}`;
check("a body of bodyBytesMax is accepted", post(20, "b".repeat(20)), { requests: [{ body: "b".repeat(20) }] }, small);
check("a Content-Length one over bodyBytesMax gets 413", post(21, "b".repeat(21)), { error: "ERR_BODY_TOO_LARGE", status: 413 }, small);
check("chunks adding up to bodyBytesMax are accepted", chunked("a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"), {
  requests: [{ body: "01234567890123456789" }],
}, small);
check("chunks adding up to one over bodyBytesMax get 413", chunked("a\r\n0123456789\r\nb\r\n0123456789X\r\n0\r\n\r\n"), {
  error: "ERR_BODY_TOO_LARGE",
}, small);
const chunkLine = (bytes: number): string => `1;${"e".repeat(bytes - 4)}\r\n`;
check("a chunk line of chunkLineBytesMax is accepted", chunked(`${chunkLine(16)}x\r\n0\r\n\r\n`), { requests: [{ body: "x" }] }, small);
check("a chunk line one over chunkLineBytesMax is refused", chunked(`${chunkLine(17)}x\r\n0\r\n\r\n`), { error: "ERR_BAD_CHUNK" }, small);
check("trailers of trailerBytesMax are accepted", chunked(`0\r\nX-T: ${"v".repeat(21)}\r\n\r\n`), { requests: [{ body: "" }] }, small);
check("trailers one over trailerBytesMax get 431", chunked(`0\r\nX-T: ${"v".repeat(22)}\r\n\r\n`), {
  error: "ERR_TRAILERS_TOO_LARGE",
  status: 431,
}, small);

// --- behaviour beyond one input -----------------------------------------------------------------

test("the parser stays failed after an error and ignores later bytes", () => {
  const parser = new HttpParser(defaultLimits);
  parser.push(Buffer.from("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"));
  assert.is(parser.next().kind, "error");
  parser.push(Buffer.from(get("/")));
  const again = parser.next();
  assert.is(again.kind === "error" && again.error.code, "ERR_BAD_CONTENT_LENGTH");
  assert.is(parser.state, "failed");
});

test("100-continue is signalled once when the head is complete and the body is not", () => {
  const parser = new HttpParser(defaultLimits);
  parser.push(Buffer.from("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  assert.is(parser.next().kind, "continue");
  assert.is(parser.next().kind, "needMore");
  assert.is(parser.state, "body");
  parser.push(Buffer.from("ab"));
  assert.is(parser.next().kind, "needMore");
  parser.push(Buffer.from("cd"));
  const done = parser.next();
  assert.is(done.kind === "request" && done.request.body.toString(), "abcd");
  assert.is(parser.state, "idle");
});

test("no 100-continue is signalled when the body came with the head", () => {
  const parser = new HttpParser(defaultLimits);
  parser.push(Buffer.from("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"));
  assert.is(parser.next().kind, "request");
});

test("states name the phase: idle, requestLine, headers, body", () => {
  const parser = new HttpParser(defaultLimits);
  assert.is(parser.state, "idle");
  parser.push(Buffer.from("PO"));
  parser.next();
  assert.is(parser.state, "requestLine");
  parser.push(Buffer.from("ST / HTTP/1.1\r\nHost: a\r\n"));
  parser.next();
  assert.is(parser.state, "headers");
  parser.push(Buffer.from("Transfer-Encoding: chunked\r\n\r\n"));
  parser.next();
  assert.is(parser.state, "chunkSize");
});

test("a body that arrived with its head is a view of the input, not a copy", () => {
  const input = Buffer.from(post(5, "hello") + post(3, "abc"));
  const parser = new HttpParser(defaultLimits);
  parser.push(input);
  const first = parser.next();
  const second = parser.next();
  assert.ok(first.kind === "request" && first.request.body.buffer === input.buffer);
  assert.ok(second.kind === "request" && second.request.body.toString() === "abc");
  assert.is(parser.bufferedBytes, 0);
});

test("thousands of pipelined requests in one chunk parse in linear time", () => {
  const one = get("/stocks/GameStart", "User-Agent: bench\r\nAccept: */*\r\n");
  const count = 20_000;
  const input = Buffer.from(one.repeat(count));
  const parser = new HttpParser(defaultLimits);
  const started = performance.now();
  parser.push(input);
  let parsed = 0;
  while (parser.next().kind === "request") parsed++;
  const ms = performance.now() - started;
  assert.is(parsed, count);
  // Quadratic copying would take seconds here; linear parsing takes a few tens of ms.
  assert.ok(ms < 2_000, `took ${ms} ms`);
});

test("random splits of a long pipelined stream give the same requests", () => {
  const stream = Buffer.from(
    get("/a") + post(5, "hello") + chunked("3\r\nabc\r\n0\r\nT: 1\r\n\r\n") + get("/b?q", "Connection: close\r\n"),
  );
  const expected = run([stream], defaultLimits);
  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + random(12);
      chunks.push(stream.subarray(at, at + size));
      at += size;
    }
    assert.equal(run(chunks, defaultLimits), expected, `round ${round}`);
  }
  assert.is(expected.requests.length, 4);
});

test("mutated requests never throw, and whole and split input agree", () => {
  const seeds = [
    get("/a?b", "Connection: close\r\n"),
    post(5, "hello"),
    chunked("3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"),
    "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
  ].map((text) => Buffer.from(text + get("/next"), "latin1"));
  const interesting = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x30, 0x3a, 0x3b, 0x7f, 0x80, 0xff, 0x41, 0x66];
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 3_000; round++) {
    const input = Buffer.from(seeds[random(seeds.length)] as Buffer);
    for (let edits = 1 + random(3); edits > 0; edits--) input[random(input.length)] = interesting[random(interesting.length)] as number;
    const whole = run([input], small);
    const at = 1 + random(input.length - 1);
    assert.equal(run([input.subarray(0, at), input.subarray(at)], small), whole, `round ${round} split at ${at}`);
    const bytes = [...input].map((b) => Buffer.from([b]));
    assert.equal(run(bytes, small), whole, `round ${round} byte by byte`);
  }
});

test.run();
