// The server on real sockets (127.0.0.1, port 0), driven by a raw TCP client so every byte on
// the wire is under the test's control: keep-alive, pipelining, 100-continue, limits, timeouts,
// connection bound, handler failures and graceful close.

import { Buffer } from "node:buffer";
import * as net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Logger } from "../../lib/log.ts";
import { waitFor } from "../../test/support/wait.ts";
import { RawClient } from "../../test/support/raw_http_client.ts";
import type { HttpLimits } from "./limits.ts";
import { traceIdBytesMax as requestIdBytesMax } from "../../lib/protocol.ts";
import type { HttpRequest } from "./parser.ts";
import { jsonResponse } from "./response.ts";
import type { HttpResponse } from "./response.ts";
import { createHttpServer } from "./server.ts";
import type { HttpServer } from "./server.ts";

const log = new Logger("http-test", {}, "silent");
/** A timer may fire a few milliseconds early as Date.now() sees it. */
const timerSlackMs = 5;

async function handler(req: HttpRequest): Promise<HttpResponse> {
  const ms = Number(new URLSearchParams(req.query).get("ms") ?? 0);
  switch (req.path) {
    case "/echo":
      return jsonResponse(200, { method: req.method, path: req.path, query: req.query, body: req.body.toString() });
    case "/slow":
      await delay(ms);
      return jsonResponse(200, { path: req.path, query: req.query });
    case "/throw":
      throw new Error("handler bug");
    case "/bad-response":
      return { status: 200, headers: { location: "/a\r\nset-cookie: x=1" }, body: "" };
    case "/buffer":
      return { status: 200, body: Buffer.from(`buffer ${req.query}`) };
    case "/never":
      return new Promise(() => {/* never settles */});
    case "/big":
      return { status: 200, body: "x".repeat(Number(new URLSearchParams(req.query).get("n"))) };
    default:
      return jsonResponse(404, { error: { code: 404, message: "not found" } });
  }
}

/** A synchronous handler for the paths that must not go through the microtask queue. */
function handle(req: HttpRequest): Promise<HttpResponse> | HttpResponse {
  if (req.path === "/sync-throw") throw new Error("sync bug");
  if (req.path === "/sync") return jsonResponse(200, { path: req.path });
  return handler(req);
}

async function withServer(limits: Partial<HttpLimits>, run: (port: number, server: HttpServer) => Promise<void>): Promise<void> {
  const server = createHttpServer({ handler: handle, log, limits });
  const port = await server.listen(0, "127.0.0.1");
  try {
    await run(port, server);
  } finally {
    await server.close();
  }
}

const get = (path: string, extra = ""): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
const post = (path: string, body: string, extra = ""): string =>
  `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

test("keep-alive: several requests share one connection", () =>
  withServer({}, async (port, server) => {
    const c = await RawClient.connect(port);
    for (let i = 0; i < 3; i++) {
      c.send(get(`/echo?i=${i}`));
      const r = await c.read();
      assert.is(r.status, 200);
      assert.is(JSON.parse(r.body).query, `i=${i}`);
      assert.is(r.headers["connection"], undefined);
    }
    assert.is(server.connectionCount(), 1);
    c.destroy();
  }));

test("pipelined requests are answered in order whatever their handlers' delays", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/slow?ms=120") + get("/sync") + get("/slow?ms=10") + post("/echo", "b") + get("/slow?ms=60"));
    const order = [];
    for (let i = 0; i < 5; i++) {
      const body = JSON.parse((await c.read()).body);
      order.push(`${body.path}?${body.query ?? ""}`);
    }
    assert.equal(order, ["/slow?ms=120", "/sync?", "/slow?ms=10", "/echo?", "/slow?ms=60"]);
    c.destroy();
  }));

test("more pipelined requests than the queue bound are all answered in order", () =>
  withServer({ pipelinedRequestsMax: 2 }, async (port) => {
    const c = await RawClient.connect(port);
    let batch = "";
    for (let i = 0; i < 50; i++) batch += get(`/echo?i=${i}`);
    c.send(batch);
    for (let i = 0; i < 50; i++) assert.is(JSON.parse((await c.read()).body).query, `i=${i}`);
    c.destroy();
  }));

test("Expect: 100-continue gets the interim response before the body is sent", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    const interim = await c.read();
    assert.is(interim.status, 100);
    c.send("hello");
    const r = await c.read();
    assert.is(r.status, 200);
    assert.is(JSON.parse(r.body).body, "hello");
    c.destroy();
  }));

test("a 100 Continue queued behind a slow response does not start the body clock", () =>
  withServer({ bodyTimeoutMs: 100 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/slow?ms=300") + "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert.is((await c.read()).status, 200);
    assert.is((await c.read()).status, 100);
    c.send("ok");
    const r = await c.read();
    assert.is(r.status, 200);
    assert.is(JSON.parse(r.body).body, "ok");
    c.destroy();
  }));

test("a chunked body reaches the handler decoded", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert.is(JSON.parse((await c.read()).body).body, "abcde");
    c.destroy();
  }));

test("HTTP/1.0 closes after the response", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send("GET /echo HTTP/1.0\r\n\r\n");
    const r = await c.read();
    assert.is(r.status, 200);
    assert.is(r.headers["connection"], "close");
    assert.ok(await c.waitClosed());
  }));

test("HTTP/1.0 with Connection: keep-alive stays open and says so", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert.is((await c.read()).headers["connection"], "keep-alive");
    c.send("GET /echo HTTP/1.0\r\n\r\n");
    assert.is((await c.read()).status, 200);
    assert.ok(await c.waitClosed());
  }));

test("Connection: close is honoured", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/echo", "Connection: close\r\n") + get("/echo"));
    const r = await c.read();
    assert.is(r.headers["connection"], "close");
    assert.ok(await c.waitClosed());
  }));

test("a HEAD response has headers only", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send("HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n" + get("/sync"));
    const head = await c.read(2_000, true);
    assert.is(head.status, 200);
    assert.ok(Number(head.headers["content-length"]) > 0);
    // The next bytes on the wire are the next response, not a body.
    assert.equal(JSON.parse((await c.read()).body), { path: "/sync" });
    c.destroy();
  }));

test("a client that half-closes after its request still gets the response", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/slow?ms=30"));
    c.end();
    assert.is((await c.read()).status, 200);
    assert.ok(await c.waitClosed());
  }));

test("a head over headerBytesMax gets a 431 JSON error and the connection closes", () =>
  withServer({ headerBytesMax: 1024, requestTargetBytesMax: 256 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/echo", `X-Big: ${"v".repeat(1100)}\r\n`));
    const r = await c.read();
    assert.is(r.status, 431);
    assert.equal(JSON.parse(r.body), { error: { code: 431, message: "request head larger than 1024 bytes" } });
    assert.is(r.headers["content-type"], "application/json; charset=utf-8");
    assert.is(r.headers["connection"], "close");
    assert.ok(await c.waitClosed());
  }));

test("a body over bodyBytesMax gets 413 before the body is read", () =>
  withServer({ bodyBytesMax: 10 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n");
    const r = await c.read();
    assert.is(r.status, 413);
    assert.is(JSON.parse(r.body).error.code, 413);
    assert.ok(await c.waitClosed());
  }));

test("a malformed request line gets the JSON error body", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send("HELLO\r\n\r\n");
    const r = await c.read();
    assert.is(r.status, 400);
    assert.equal(JSON.parse(r.body), { error: { code: 400, message: "malformed request line" } });
    assert.ok(await c.waitClosed());
  }));

test("a smuggling attempt (Content-Length and Transfer-Encoding) closes without parsing further", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(
      get("/echo?first") +
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get("/echo?smuggled"),
    );
    assert.is((await c.read()).status, 200);
    const r = await c.read();
    assert.is(r.status, 400);
    assert.is(r.headers["connection"], "close");
    assert.ok(await c.waitClosed());
    assert.is(c.unread(), 0, "the request after the refused one got no answer");
  }));

test("a slowloris head gets 408 after headersTimeoutMs and is closed", () =>
  withServer({ headersTimeoutMs: 150 }, async (port) => {
    const c = await RawClient.connect(port);
    const started = Date.now();
    c.send("GET /echo HTTP/1.1\r\nHost: t\r\n");
    const drip = setInterval(() => c.send("X-A: b\r\n"), 30);
    try {
      const r = await c.read(2_000);
      assert.is(r.status, 408);
      assert.ok(await c.waitClosed());
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 140 && elapsed < 1_000, `closed after ${elapsed} ms`);
    } finally {
      clearInterval(drip);
    }
  }));

test("a slow body gets 408 after bodyTimeoutMs", () =>
  withServer({ bodyTimeoutMs: 150 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    const r = await c.read(2_000);
    assert.is(r.status, 408);
    assert.ok(await c.waitClosed());
  }));

test("an idle keep-alive connection is closed after idleTimeoutMs", () =>
  withServer({ idleTimeoutMs: 150 }, async (port, server) => {
    const c = await RawClient.connect(port);
    // Measured from before the request: the idle timer starts only once the response is written.
    const started = Date.now();
    c.send(get("/echo"));
    await c.read();
    assert.ok(await c.waitClosed(2_000));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 - timerSlackMs, `closed after ${elapsed} ms, before the idle timeout`);
    await waitFor(() => server.connectionCount() === 0, 2_000, "the server to forget the connection");
  }));

test("a connection that is opened and never used is closed as idle", () =>
  withServer({ idleTimeoutMs: 100 }, async (port) => {
    const c = await RawClient.connect(port);
    assert.ok(await c.waitClosed(2_000));
  }));

test("beyond connectionsMax a new connection gets 503 and is closed", () =>
  withServer({ connectionsMax: 2 }, async (port, server) => {
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    await delay(20);
    assert.is(server.connectionCount(), 2);
    const c = await RawClient.connect(port);
    c.send(get("/echo"));
    const r = await c.read();
    assert.is(r.status, 503);
    assert.is(r.headers["retry-after"], "1");
    assert.is(JSON.parse(r.body).error.code, 503);
    assert.ok(await c.waitClosed());
    a.destroy();
    await delay(50);
    const d = await RawClient.connect(port);
    d.send(get("/echo"));
    assert.is((await d.read()).status, 200);
    b.destroy();
    d.destroy();
  }));

test("a throwing handler gets 500 and the connection keeps working", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/throw") + get("/sync-throw") + get("/echo"));
    const first = await c.read();
    assert.is(first.status, 500);
    assert.equal(JSON.parse(first.body), { error: { code: 500, message: "internal server error" } });
    assert.is((await c.read()).status, 500);
    assert.is((await c.read()).status, 200);
    c.send(get("/echo"));
    assert.is((await c.read()).status, 200);
    c.destroy();
  }));

test("a handler returning a malformed response gets 500 and the connection keeps working", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/bad-response") + get("/echo"));
    const r = await c.read();
    assert.is(r.status, 500);
    assert.is(r.headers["set-cookie"], undefined);
    assert.is((await c.read()).status, 200);
    c.destroy();
  }));

test("pipelined string and Buffer bodies are written in order", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/buffer?1") + get("/sync") + get("/buffer?3"));
    assert.is((await c.read()).body, "buffer 1");
    assert.equal(JSON.parse((await c.read()).body), { path: "/sync" });
    assert.is((await c.read()).body, "buffer 3");
    c.destroy();
  }));

test("a handler that never answers gets 503 after handlerTimeoutMs", () =>
  withServer({ handlerTimeoutMs: 100 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/never") + get("/echo"));
    const timedOut = await c.read();
    assert.is(timedOut.status, 503);
    assert.is(timedOut.headers["retry-after"], "1", "a 503 says when to come back");
    assert.is((await c.read()).status, 200);
    c.destroy();
  }));

const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("X-Request-Id: a valid one is echoed; none, too long or with a space gets a generated one", () =>
  withServer({}, async (port) => {
    const c = await RawClient.connect(port);
    const atLimit = "r".repeat(requestIdBytesMax);
    c.send(get("/echo", "X-Request-Id: abc-123_~!\r\n") + get("/echo", `X-Request-Id: ${atLimit}\r\n`));
    assert.is((await c.read()).headers["x-request-id"], "abc-123_~!");
    assert.is((await c.read()).headers["x-request-id"], atLimit);
    const replaced = [get("/echo"), get("/echo", `X-Request-Id: ${atLimit}r\r\n`), get("/echo", "X-Request-Id: a b\r\n")];
    const seen = new Set<string>();
    for (const request of [...replaced, get("/echo", "X-Request-Id: a\r\nX-Request-Id: b\r\n")]) {
      c.send(request);
      const id = (await c.read()).headers["x-request-id"] ?? "";
      assert.match(id, uuidRe);
      seen.add(id);
    }
    assert.is(seen.size, 4, "each generated id is new");
    c.destroy();
  }));

test("X-Request-Id is on every response: handler errors, timeouts, parser errors, connection limit", () =>
  withServer({ handlerTimeoutMs: 100, connectionsMax: 1 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/throw", "X-Request-Id: t1\r\n") + get("/never", "X-Request-Id: t2\r\n") + get("/bad-response", "X-Request-Id: t3\r\n"));
    const statuses = [];
    for (const id of ["t1", "t2", "t3"]) {
      const r = await c.read();
      statuses.push(r.status);
      assert.is(r.headers["x-request-id"], id);
    }
    assert.equal(statuses, [500, 503, 500]);
    const refused = await RawClient.connect(port);
    refused.send(get("/echo"));
    assert.match((await refused.read()).headers["x-request-id"] ?? "", uuidRe);
    refused.destroy();
    c.send("HELLO\r\n\r\n");
    const malformed = await c.read();
    assert.is(malformed.status, 400);
    assert.match(malformed.headers["x-request-id"] ?? "", uuidRe);
  }));

test("a bad request on one connection does not disturb another", () =>
  withServer({}, async (port) => {
    const good = await RawClient.connect(port);
    const bad = await RawClient.connect(port);
    good.send(get("/slow?ms=50"));
    bad.send("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert.is((await bad.read()).status, 400);
    assert.is((await good.read()).status, 200);
    good.send(get("/echo"));
    assert.is((await good.read()).status, 200);
    good.destroy();
  }));

test("responses larger than the write buffer bound arrive whole and in order", () =>
  withServer({ writeBufferBytesMax: 1024 }, async (port) => {
    const c = await RawClient.connect(port);
    c.send(get("/big?n=300000") + get("/big?n=5") + get("/big?n=200000"));
    assert.is((await c.read(5_000)).body.length, 300_000);
    assert.is((await c.read(5_000)).body, "xxxxx");
    assert.is((await c.read(5_000)).body.length, 200_000);
    c.destroy();
  }));

test("a client that stops reading is dropped after writeTimeoutMs", () =>
  withServer({ writeTimeoutMs: 200, writeBufferBytesMax: 1024 }, async (port, server) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {/* reset by the server */});
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.pause(); // never read: the response stays in the server's buffers
    // Measured from before the request: the write timer starts only once the server is blocked writing.
    const started = Date.now();
    socket.write(get("/big?n=30000000"));
    await waitFor(() => server.connectionCount() === 1, 2_000, "the server to accept");
    while (server.connectionCount() > 0 && Date.now() - started < 3_000) await delay(10);
    assert.is(server.connectionCount(), 0, "the server dropped the connection");
    assert.ok(Date.now() - started >= 200 - timerSlackMs, "not before writeTimeoutMs");
    socket.destroy();
  }));

test("graceful close answers the request in progress with connection: close and closes idle sockets", async () => {
  const server = createHttpServer({ handler: handle, log, limits: {} });
  const port = await server.listen(0, "127.0.0.1");
  const busy = await RawClient.connect(port);
  const idle = await RawClient.connect(port);
  idle.send(get("/echo"));
  await idle.read();
  busy.send(get("/slow?ms=150"));
  await delay(30);
  const closed = server.close();
  const r = await busy.read();
  assert.is(r.status, 200);
  assert.is(r.headers["connection"], "close");
  assert.ok(await idle.waitClosed());
  assert.ok(await busy.waitClosed());
  await closed;
  assert.is(server.connectionCount(), 0);
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(true));
  });
  assert.ok(refused, "no new connections after close");
});

test("graceful close destroys what is left after drainTimeoutMs", async () => {
  const server = createHttpServer({ handler: handle, log, limits: { drainTimeoutMs: 100 } });
  const port = await server.listen(0, "127.0.0.1");
  const c = await RawClient.connect(port);
  c.send(get("/never"));
  await delay(20);
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 1_000);
  assert.ok(await c.waitClosed());
});

test("listen resolves with the bound port and rejects a port in use", async () => {
  const a = createHttpServer({ handler: handle, log });
  const port = await a.listen(0, "127.0.0.1");
  assert.ok(port > 0);
  const b = createHttpServer({ handler: handle, log });
  try {
    await b.listen(port, "127.0.0.1");
    assert.unreachable("second listen on the same port");
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, "EADDRINUSE");
  }
  await a.close();
  await b.close();
});

test("options are validated at construction with the option named", () => {
  assert.throws(() => createHttpServer({ handler: handle, log, limits: { headerBytesMax: 10 } }), /limits\.headerBytesMax/);
  assert.throws(
    () => createHttpServer({ handler: handle, log, limits: { idleTimeoutMs: 1.5 } }),
    /limits\.idleTimeoutMs must be an integer/,
  );
  assert.throws(
    () => createHttpServer({ handler: handle, log, limits: { nope: 1 } as Partial<HttpLimits> }),
    /limits\.nope is not a known limit/,
  );
  assert.throws(() => createHttpServer({ handler: handle, log, limits: { requestTargetBytesMax: 20_000 } }), /headerBytesMax/);
  assert.throws(() => createHttpServer({ handler: undefined as unknown as typeof handle, log }), /handler must be a function/);
});

test.run();
