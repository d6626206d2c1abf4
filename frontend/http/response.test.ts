// Response serialization: framing headers, the JSON shapes, and refusing malformed responses.

import { Buffer } from "node:buffer";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { HttpError } from "./errors.ts";
import { continueResponse, httpDate, httpErrorResponse, jsonError, jsonResponse, serializeResponse } from "./response.ts";
import type { ResponseFraming } from "./response.ts";

const keep: ResponseFraming = { close: false, headOnly: false, announceKeepAlive: false };
const close: ResponseFraming = { close: true, headOnly: false, announceKeepAlive: false };

function text(bytes: string | Buffer): string {
  return typeof bytes === "string" ? bytes : bytes.toString("utf8");
}

function split(bytes: string | Buffer): { head: string[]; body: string } {
  const all = text(bytes);
  const end = all.indexOf("\r\n\r\n");
  return { head: all.slice(0, end).split("\r\n"), body: all.slice(end + 4) };
}

test("a JSON response has status line, content type, length, date and body", () => {
  const { head, body } = split(serializeResponse(jsonResponse(200, { data: { name: "GameStart" } }), keep));
  assert.is(head[0], "HTTP/1.1 200 OK");
  assert.ok(head.includes("content-type: application/json; charset=utf-8"));
  assert.ok(head.includes(`content-length: ${Buffer.byteLength(body)}`));
  assert.ok(head.some((h) => /^date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(h)));
  assert.not.ok(head.some((h) => h.startsWith("connection:")));
  assert.is(body, '{"data":{"name":"GameStart"}}');
});

test("jsonError has exactly the error shape", () => {
  const response = jsonError(404, "stock not found");
  assert.is(response.status, 404);
  assert.is(response.body, '{"error":{"code":404,"message":"stock not found"}}');
  assert.equal(response.headers, { "content-type": "application/json; charset=utf-8" });
});

test("jsonError keeps extra headers such as Retry-After", () => {
  const { head } = split(serializeResponse(jsonError(503, "no replica", { "retry-after": "1" }), keep));
  assert.is(head[0], "HTTP/1.1 503 Service Unavailable");
  assert.ok(head.includes("retry-after: 1"));
  assert.ok(head.includes("content-type: application/json; charset=utf-8"));
});

test("a parser error becomes the JSON error with its status", () => {
  const response = httpErrorResponse(new HttpError("ERR_HEADERS_TOO_LARGE", "request head larger than 16384 bytes"));
  assert.is(response.status, 431);
  assert.equal(JSON.parse(response.body as string), { error: { code: 431, message: "request head larger than 16384 bytes" } });
  assert.is(split(serializeResponse(response, close)).head[0], "HTTP/1.1 431 Request Header Fields Too Large");
});

test("a closing response says connection: close", () => {
  assert.ok(split(serializeResponse(jsonError(400, "bad"), close)).head.includes("connection: close"));
});

test("an HTTP/1.0 keep-alive response says connection: keep-alive", () => {
  const framing = { close: false, headOnly: false, announceKeepAlive: true };
  assert.ok(split(serializeResponse(jsonResponse(200, {}), framing)).head.includes("connection: keep-alive"));
});

test("Content-Length counts UTF-8 bytes, not characters", () => {
  const { head, body } = split(serializeResponse({ status: 200, body: "héllo €" }, keep));
  assert.ok(head.includes(`content-length: ${Buffer.byteLength("héllo €")}`));
  assert.is(body, "héllo €");
});

test("a Buffer body is sent as is", () => {
  const bytes = serializeResponse({ status: 200, body: Buffer.from([0, 1, 2, 255]) }, keep);
  assert.ok(Buffer.isBuffer(bytes));
  assert.equal([...(bytes as Buffer).subarray(-4)], [0, 1, 2, 255]);
  assert.ok(split(bytes).head.includes("content-length: 4"));
});

test("a HEAD response has the length of the body but not the body", () => {
  const framing = { close: false, headOnly: true, announceKeepAlive: false };
  const bytes = text(serializeResponse(jsonResponse(200, { a: 1 }), framing));
  assert.ok(bytes.endsWith("\r\n\r\n"));
  assert.ok(bytes.includes("content-length: 7\r\n"));
});

test("204 has neither body nor Content-Length", () => {
  const bytes = text(serializeResponse({ status: 204, body: "" }, keep));
  assert.ok(bytes.startsWith("HTTP/1.1 204 No Content\r\n"));
  assert.not.ok(bytes.includes("content-length"));
  assert.throws(() => serializeResponse({ status: 204, body: "x" }, keep), TypeError);
});

test("an unknown status gets an empty reason phrase", () => {
  assert.is(split(serializeResponse({ status: 599, body: "" }, keep)).head[0], "HTTP/1.1 599 ");
});

test("statuses outside 200..599 are refused", () => {
  for (const status of [100, 199, 600, 200.5, Number.NaN]) {
    assert.throws(() => serializeResponse({ status, body: "" }, keep), TypeError, String(status));
  }
});

test("header values with CR or LF are refused (no response splitting)", () => {
  assert.throws(() => serializeResponse({ status: 200, headers: { location: "/a\r\nset-cookie: x" }, body: "" }, keep), TypeError);
  assert.throws(() => serializeResponse({ status: 200, headers: { "bad name": "v" }, body: "" }, keep), TypeError);
});

test("framing headers belong to the server", () => {
  for (const name of ["Content-Length", "transfer-encoding", "Connection", "date"]) {
    assert.throws(() => serializeResponse({ status: 200, headers: { [name]: "1" }, body: "" }, keep), TypeError, name);
  }
});

test("a body that is neither string nor Buffer is refused", () => {
  assert.throws(() => serializeResponse({ status: 200, body: 42 as unknown as string }, keep), TypeError);
});

test("the Date value changes only with the second", () => {
  const t = Date.UTC(2024, 0, 2, 3, 4, 5);
  assert.is(httpDate(t), "Tue, 02 Jan 2024 03:04:05 GMT");
  assert.is(httpDate(t + 999), "Tue, 02 Jan 2024 03:04:05 GMT");
  assert.is(httpDate(t + 1000), "Tue, 02 Jan 2024 03:04:06 GMT");
});

test("the interim 100 Continue response is a bare status line", () => {
  assert.is(continueResponse, "HTTP/1.1 100 Continue\r\n\r\n");
});

test.run();
