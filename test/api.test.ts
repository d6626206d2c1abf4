// The public REST API (docs/api.md) end to end: the real catalog, three real replicas and
// the real frontend, driven over real HTTP. Every success and every error shape.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { stockNameBytesMax } from "../lib/protocol.ts";
import { LocalSystem } from "./support/local_system.ts";
import { rawExchange, requestJson } from "./support/http.ts";
import { reported } from "./support/hooks.ts";

let cluster: LocalSystem;
const get = (path: string) => requestJson(cluster.url, "GET", path);
const post = (path: string, body: unknown, headers: Record<string, string> = {}) => requestJson(cluster.url, "POST", path, body, headers);

test.before(reported("api cluster", async () => {
  cluster = await LocalSystem.start();
}));
test.after(async () => {
  await cluster.stop();
});

// deno-lint-ignore no-explicit-any -- parsed JSON and headers, read field by field
function assertError(reply: { status: number; body: any; headers: any }, status: number): void {
  assert.is(reply.status, status, JSON.stringify(reply.body));
  assert.is(reply.body.error.code, status);
  assert.type(reply.body.error.message, "string");
  assert.match(String(reply.headers["content-type"]), /^application\/json; charset=utf-8/);
}

test("GET /stocks/{name} returns the stock", async () => {
  const reply = await get("/stocks/GameStart");
  assert.is(reply.status, 200);
  assert.equal(Object.keys(reply.body.data).sort(), ["name", "price", "quantity", "volume"]);
  assert.is(reply.body.data.name, "GameStart");
  assert.is(reply.body.data.price, 15.99);
  assert.is(reply.body.data.quantity, 100);
  assert.is(reply.body.data.volume, 0);
});

test("unknown stock is 404 stock not found; names are case-sensitive", async () => {
  const reply = await get("/stocks/NoSuchCo");
  assertError(reply, 404);
  assert.is(reply.body.error.message, "stock not found");
  assertError(await get("/stocks/gamestart"), 404);
});

test("stock names at the shared byte limit and one past it: unknown stock, never a 500", async () => {
  const atLimit = "x".repeat(stockNameBytesMax);
  const past = "x".repeat(stockNameBytesMax + 1);
  assertError(await get(`/stocks/${atLimit}`), 404);
  assertError(await get(`/stocks/${past}`), 404);
  const unknown = await post("/orders", { name: atLimit, quantity: 1, type: "buy" });
  assertError(unknown, 400);
  assert.is(unknown.body.error.message, "unknown stock");
  const oversized = await post("/orders", { name: past, quantity: 1, type: "buy" });
  assertError(oversized, 400);
  assert.match(oversized.body.error.message, /name/);
});

test("buy, sell and order query", async () => {
  const buy = await post("/orders", { name: "FishCo", quantity: 3, type: "buy" });
  assert.is(buy.status, 200, JSON.stringify(buy.body));
  const n = buy.body.data.transaction_number;
  assert.type(n, "number");
  const sell = await post("/orders", { name: "FishCo", quantity: 1, type: "sell" });
  assert.is(sell.body.data.transaction_number, n + 1);
  const order = await get(`/orders/${n}`);
  assert.equal(order.body, { data: { number: n, name: "FishCo", type: "buy", quantity: 3 } });
  const stock = await get("/stocks/FishCo");
  assert.is(stock.body.data.quantity, 98);
  assert.is(stock.body.data.volume, 4);
});

test("insufficient quantity is 409 and consumes no number", async () => {
  const before = await post("/orders", { name: "BoarCo", quantity: 1, type: "sell" });
  const reply = await post("/orders", { name: "BoarCo", quantity: 100_000, type: "buy" });
  assertError(reply, 409);
  assert.is(reply.body.error.message, "insufficient quantity");
  const after = await post("/orders", { name: "BoarCo", quantity: 1, type: "sell" });
  assert.is(after.body.data.transaction_number, before.body.data.transaction_number + 1);
});

test("bad order bodies are 400 with a message naming the problem", async () => {
  const cases: [unknown, RegExp][] = [
    ["{not json", /JSON/],
    [[1, 2], /object/],
    [{ quantity: 1, type: "buy" }, /name/],
    [{ name: 5, quantity: 1, type: "buy" }, /name/],
    [{ name: "FishCo", quantity: "1", type: "buy" }, /quantity/],
    [{ name: "FishCo", quantity: 0, type: "buy" }, /quantity/],
    [{ name: "FishCo", quantity: -2, type: "buy" }, /quantity/],
    [{ name: "FishCo", quantity: 1.5, type: "buy" }, /quantity/],
    [{ name: "FishCo", quantity: 1e300, type: "buy" }, /quantity/],
    [{ name: "FishCo", quantity: 1, type: "hold" }, /type/],
    [{ name: "NoSuchCo", quantity: 1, type: "buy" }, /unknown stock/],
  ];
  for (const [body, message] of cases) {
    const reply = await post("/orders", body);
    assertError(reply, 400);
    assert.match(reply.body.error.message, message, JSON.stringify(body));
  }
});

test("unknown order is 404; a bad order number is 400", async () => {
  assertError(await get("/orders/99999999"), 404);
  assert.is((await get("/orders/99999999")).body.error.message, "order not found");
  for (const bad of ["-1", "abc", "1.5", "99999999999999999999"]) assertError(await get(`/orders/${bad}`), 400);
});

test("same Idempotency-Key and order gives the same transaction number", async () => {
  const order = { name: "MenhirCo", quantity: 2, type: "buy" };
  const a = await post("/orders", order, { "idempotency-key": "test-key-1" });
  const b = await post("/orders", order, { "idempotency-key": "test-key-1" });
  assert.is(a.status, 200);
  assert.is(b.body.data.transaction_number, a.body.data.transaction_number);
  const stock = await get("/stocks/MenhirCo");
  assert.is(stock.body.data.quantity, 98, "applied once");
});

/**
 * A Server-Timing value as name → {desc, dur}, in the order sent; fails the test on anything that
 * does not parse (a duration is in milliseconds to at most 0.001) and on a name sent twice.
 */
function parseServerTiming(value: unknown): Map<string, { desc?: string; dur?: number }> {
  assert.type(value, "string");
  const metrics = new Map<string, { desc?: string; dur?: number }>();
  for (const part of String(value).split(", ")) {
    const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:;desc="([^"\\]*)")?(?:;dur=(\d+(?:\.\d{1,3})?))?$/.exec(part);
    assert.ok(match, `Server-Timing entry ${JSON.stringify(part)} does not parse`);
    assert.not.ok(metrics.has(match[1] as string), `Server-Timing names ${JSON.stringify(match[1])} once`);
    metrics.set(match[1] as string, {
      ...(match[2] === undefined ? {} : { desc: match[2] }),
      ...(match[3] === undefined ? {} : { dur: Number(match[3]) }),
    });
  }
  return metrics;
}

/** The names of a Server-Timing value, in order, each entry being `name;dur=milliseconds` (no description). */
function timedPhases(value: unknown): string[] {
  return [...parseServerTiming(value)].map(([name, { desc, dur }]) => {
    assert.ok(desc === undefined && dur !== undefined, `Server-Timing entry "${name}" is name;dur=milliseconds`);
    return name;
  });
}

test("POST /orders carries Server-Timing with the documented phases (README: Server-Timing)", async () => {
  const order = { name: "DruidCo", quantity: 1, type: "sell" };
  const fresh = await post("/orders", order, { "idempotency-key": "timing-key-1" });
  assert.is(fresh.status, 200, JSON.stringify(fresh.body));
  const names = timedPhases(fresh.headers["server-timing"]);
  // The leader's own fsync is listed only when it finished before a majority held the order.
  const full = ["queue", "leader-batch", "catalog", "catalog-fsync", "replicate", "fsync", "total"];
  assert.equal(names.filter((n) => n !== "fsync"), full.filter((n) => n !== "fsync"), names.join(" "));
  // A retry answered from the leader's log made no catalog call: only the frontend's phases.
  const retry = await post("/orders", order, { "idempotency-key": "timing-key-1" });
  assert.is(retry.body.data.transaction_number, fresh.body.data.transaction_number);
  assert.equal(timedPhases(retry.headers["server-timing"]), ["queue", "total"]);
});

test("unknown path is 404, wrong method is 405 with Allow", async () => {
  assertError(await get("/nope"), 404);
  const reply = await requestJson(cluster.url, "DELETE", "/stocks/GameStart");
  assertError(reply, 405);
  assert.is(reply.headers["allow"], "GET, HEAD");
  assert.is((await get("/orders")).headers["allow"], "POST");
});

test("GET /stocks/{name} carries Server-Timing: the cache, the catalog when asked, the total", async () => {
  for (const path of ["/stocks/BardCo", "/stocks/BardCo", "/stocks/NoSuchCo"]) {
    const reply = await get(path);
    const metrics = parseServerTiming(reply.headers["server-timing"]);
    const cache = metrics.get("cache")?.desc;
    assert.ok(cache === "hit" || cache === "miss" || cache === "bypass", `cache: ${cache}`);
    assert.is(metrics.has("catalog"), cache !== "hit", "a catalog phase exactly when the cache did not answer");
    assert.type(metrics.get("total")?.dur, "number");
  }
});

test("HEAD on every GET route: GET's status and headers, no body", async () => {
  for (const path of ["/stocks/GameStart", "/stocks/NoSuchCo", "/orders/0", "/orders/abc", "/health"]) {
    const got = await get(path);
    const head = await requestJson(cluster.url, "HEAD", path);
    assert.is(head.status, got.status, path);
    assert.is(head.body, "", `${path}: no body`);
    assert.is(head.headers["content-type"], got.headers["content-type"], path);
    assert.is(head.headers["content-length"], got.headers["content-length"], path);
  }
  const onPost = await requestJson(cluster.url, "HEAD", "/orders");
  assert.is(onPost.status, 405, "no HEAD where there is no GET");
  assert.is(onPost.headers["allow"], "POST");
  assert.is((await requestJson(cluster.url, "constructor", "/stocks/GameStart")).status, 405, "no prototype method");
});

test("X-Request-Id is echoed on API responses, successes and errors, and generated when absent", async () => {
  for (const path of ["/stocks/GameStart", "/stocks/NoSuchCo", "/nope"]) {
    const reply = await requestJson(cluster.url, "GET", path, undefined, { "x-request-id": `api-${path}` });
    assert.is(reply.headers["x-request-id"], `api-${path}`);
  }
  const posted = await post("/orders", { name: "NoSuchCo", quantity: 1, type: "buy" }, { "x-request-id": "order-1" });
  assert.is(posted.headers["x-request-id"], "order-1");
  assert.match(String((await get("/health")).headers["x-request-id"]), /^[0-9a-f-]{36}$/);
});

test("percent-encoded stock names are decoded; bad encoding is 400", async () => {
  assert.is((await get("/stocks/Game%53tart")).status, 200);
  assertError(await get("/stocks/%E0%A4%A"), 400);
});

test("malformed request line gets a JSON 400 and the connection closes", async () => {
  const text = await rawExchange(cluster.frontendPort, "GARBAGE\r\n\r\n");
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /"error":\{"code":400/);
});

test("GET /health reports catalog, replicas, leader and cache", async () => {
  const reply = await get("/health");
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  assert.is(reply.body.data.leader, 3);
  assert.is(reply.body.data.catalog.up, true);
  assert.is(reply.body.data.replicas.length, 3);
  assert.ok(reply.body.data.cache);
});

test.run();
