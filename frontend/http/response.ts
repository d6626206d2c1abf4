// Serializing a response to bytes: the status line, the handler's headers, and the headers the
// server owns because they frame the stream (Content-Length, Date, Connection) or because it
// answers every request with them (X-Request-Id). Also the two
// JSON shapes every route uses, so every error (parser errors included) has the same body.
// A malformed response is a handler bug: it throws TypeError, which the connection turns into 500.

import { Buffer } from "node:buffer";
import type { HttpError } from "./errors.ts";

export type HttpResponse = {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
};

export type ResponseFraming = {
  /** The connection closes after this response, so say "connection: close" (RFC 9112 §9.6). */
  readonly close: boolean;
  /** A response to HEAD: the headers a GET would get, no body (RFC 9110 §9.3.2). */
  readonly headOnly: boolean;
  /** An HTTP/1.0 client that asked for keep-alive must see it confirmed (RFC 9112 §9.3). */
  readonly announceKeepAlive: boolean;
};

export const jsonContentType = "application/json; charset=utf-8";
/** The interim response to "Expect: 100-continue" (RFC 9110 §15.2.1). */
export const continueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

const reasons: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Response header values: visible ASCII, SP and HTAB. No CR or LF, so no response splitting. */
const valueBadRe = /[^\t\x20-\x7e]/;
/** Headers only the server writes: they decide where one response ends and the next begins. */
const serverOwned = new Set(["content-length", "transfer-encoding", "connection", "date", "keep-alive", "x-request-id"]);
const jsonHeaders: Readonly<Record<string, string>> = Object.freeze({ "content-type": jsonContentType });

const statusLines = new Map<number, string>();

function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new TypeError(`Cannot send response: status must be an integer from 200 to 599 (got ${String(status)})`);
    }
    // RFC 9112 §4: the reason phrase may be empty, the space before it may not.
    line = `HTTP/1.1 ${status} ${reasons[status] ?? ""}\r\n`;
    statusLines.set(status, line);
  }
  return line;
}

let dateSecond = -1;
let dateValue = "";

/** The Date header value (RFC 9110 §6.6.1), formatted at most once per second. */
export function httpDate(nowMs: number): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/** Header names already found valid and not server-owned, so each is checked once. Handlers use
 * a handful of names; the bound only stops a handler with generated names from growing it. */
const checkedNames = new Set<string>();
const checkedNamesMax = 256;

function checkName(name: string): void {
  if (checkedNames.has(name)) return;
  if (!tokenRe.test(name)) throw new TypeError(`Cannot send response: invalid header name ${JSON.stringify(name)}`);
  if (serverOwned.has(name.toLowerCase())) throw new TypeError(`Cannot send response: header ${name} is set by the server`);
  if (checkedNames.size < checkedNamesMax) checkedNames.add(name);
}

function handlerHeaders(headers: Readonly<Record<string, string>>): string {
  let text = "";
  for (const name in headers) {
    const value = headers[name];
    checkName(name);
    if (typeof value !== "string" || valueBadRe.test(value)) {
      throw new TypeError(`Cannot send response: invalid value for header ${name}`);
    }
    text += `${name}: ${value}\r\n`;
  }
  return text;
}

/**
 * The response as bytes to write: a string (to be written as UTF-8) when the body is a string,
 * so pipelined responses can be joined into one write, or a Buffer when the body is one.
 * `requestId` (checked by the parser, or generated) is echoed as X-Request-Id.
 */
export function serializeResponse(response: HttpResponse, framing: ResponseFraming, requestId?: string): string | Buffer {
  const { status, body } = response;
  let head = statusLine(status);
  if (response.headers !== undefined) head += handlerHeaders(response.headers);
  const isString = typeof body === "string";
  if (!isString && !Buffer.isBuffer(body)) throw new TypeError("Cannot send response: body must be a string or a Buffer");
  const length = isString ? Buffer.byteLength(body, "utf8") : body.length;
  // RFC 9110 §15.3.5, §15.4.5: 204 and 304 have no content, and 204 no Content-Length.
  const bodiless = status === 204 || status === 304;
  if (bodiless && length > 0) throw new TypeError(`Cannot send response: status ${status} has no body`);
  if (!bodiless) head += `content-length: ${length}\r\n`;
  head += `date: ${httpDate(Date.now())}\r\n`;
  if (requestId !== undefined) head += `x-request-id: ${requestId}\r\n`;
  if (framing.close) head += "connection: close\r\n";
  else if (framing.announceKeepAlive) head += "connection: keep-alive\r\n";
  head += "\r\n";
  if (framing.headOnly || bodiless) return head;
  if (isString) return head + body;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

export function jsonResponse(status: number, value: unknown, extraHeaders?: Readonly<Record<string, string>>): HttpResponse {
  const headers = extraHeaders === undefined ? jsonHeaders : { ...extraHeaders, ...jsonHeaders };
  return { status, headers, body: JSON.stringify(value) };
}

/** The one error shape: {"error":{"code":<status>,"message":"..."}}. */
export function jsonError(status: number, message: string, extraHeaders?: Readonly<Record<string, string>>): HttpResponse {
  return jsonResponse(status, { error: { code: status, message } }, extraHeaders);
}

/** The answer to a request the parser refused. */
export function httpErrorResponse(error: HttpError): HttpResponse {
  return jsonError(error.status, error.message);
}
