// StockBazaarClient against a real system (catalog, three replicas, frontend) for every call and
// every error the API sends, and against small node:http servers for what a real frontend does
// not do on demand: hang, answer with a page that is not JSON, close idle connections.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePort } from "../lib/service_process.ts";
import { sleep } from "../lib/sleep.ts";
import { LocalSystem } from "../test/support/local_system.ts";
import { reported } from "../test/support/hooks.ts";
import {
  BadRequestError,
  BadResponseError,
  ConflictError,
  NetworkError,
  NotFoundError,
  StockBazaarClient,
  StockBazaarError,
  TimeoutError,
  UnavailableError,
  UnexpectedStatusError,
} from "./stock_bazaar_client.ts";

let system: LocalSystem;
let client: StockBazaarClient;

test.before(reported("client system", async () => {
  system = await LocalSystem.start();
  client = new StockBazaarClient({ baseUrl: system.url });
}));
test.after(async () => {
  // After a failed setup neither exists; the setup's own error is the one to see.
  client?.close();
  await system?.stop();
});

/** The error `call` rejects with; fails the test if it resolves. */
async function failure(call: Promise<unknown>): Promise<StockBazaarError> {
  try {
    await call;
  } catch (err) {
    assert.instance(err, StockBazaarError);
    return err as StockBazaarError;
  }
  throw new assert.Assertion({ message: "the call succeeded", operator: "failure", expects: "an error", actual: "a reply" });
}

/** How long the keep-alive test lets a connection the server closed sit before the next call. */
const idleCloseWaitMs = 200;

/** A node:http server on a free port with `handler`; closed (connections included) by the returned function. */
async function fakeFrontend(handler: http.RequestListener): Promise<{ url: string; connections: () => number; close: () => void }> {
  const server = http.createServer(handler);
  let connections = 0;
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test("lookup, trade, order and health against the real system", async () => {
  const stock = await client.lookup("GameStart");
  assert.equal(stock.data, { name: "GameStart", price: 15.99, quantity: 100, volume: 0 });
  assert.is(stock.status, 200);
  const trade = await client.trade({ name: "GameStart", type: "buy", quantity: 2 });
  const order = await client.order(trade.data.transactionNumber);
  assert.equal(order.data, { number: trade.data.transactionNumber, name: "GameStart", type: "buy", quantity: 2 });
  assert.is((await client.lookup("GameStart")).data.quantity, 98, "read-your-writes through the client");
  const health = await client.health();
  assert.is(health.ok, true);
  assert.is(health.data.status, "ok");
  assert.type(health.data.leader, "number");
});

test("a trade with an idempotency key trades once, however often it is sent", async () => {
  const order = { name: "FishCo", type: "sell", quantity: 3, idempotencyKey: "client-test-key" } as const;
  const [a, b] = await Promise.all([client.trade(order), client.trade(order)]);
  assert.is(b.data.transactionNumber, a.data.transactionNumber);
  assert.is((await client.trade(order)).data.transactionNumber, a.data.transactionNumber);
  assert.is((await client.lookup("FishCo")).data.quantity, 103);
});

test("the API's errors become typed errors with stable codes", async () => {
  const unknown = await failure(client.lookup("NoSuchCo"));
  assert.instance(unknown, NotFoundError);
  assert.is(unknown.code, "ERR_NOT_FOUND");
  assert.is(unknown.status, 404);
  assert.match(unknown.message, /stock not found/);
  assert.instance(await failure(client.order(99_999_999)), NotFoundError);
  const badStock = await failure(client.trade({ name: "NoSuchCo", type: "buy", quantity: 1 }));
  assert.instance(badStock, BadRequestError);
  assert.is(badStock.code, "ERR_BAD_REQUEST");
  assert.match(badStock.message, /unknown stock/);
  const badQuantity = await failure(client.trade({ name: "FishCo", type: "buy", quantity: 0 }));
  assert.instance(badQuantity, BadRequestError);
  assert.match(badQuantity.message, /quantity/);
  assert.instance(await failure(client.trade({ name: "FishCo", type: "buy", quantity: 1, idempotencyKey: "" })), BadRequestError);
  const short = await failure(client.trade({ name: "BoarCo", type: "buy", quantity: 1_000_000 }));
  assert.instance(short, ConflictError);
  assert.is(short.code, "ERR_CONFLICT");
  assert.is(short.status, 409);
});

test("wrong arguments and options throw before anything is sent, naming the problem", async () => {
  assert.throws(
    () => new StockBazaarClient({ baseUrl: "not a url" }),
    (err: unknown) => err instanceof TypeError && /baseUrl/.test(String(err)),
  );
  assert.throws(() => new StockBazaarClient({ baseUrl: "https://x" }), /http:/);
  assert.throws(() => new StockBazaarClient({ baseUrl: system.url, deadlineMs: 0 }), (err: unknown) => err instanceof RangeError);
  assert.throws(() => new StockBazaarClient({ baseUrl: system.url, connectionsMax: 1.5 }), /connectionsMax/);
  await client.order(-1).then(() => assert.unreachable(), (err: unknown) => assert.instance(err, RangeError));
  await client.lookup("").then(() => assert.unreachable(), (err: unknown) => assert.instance(err, TypeError));
  const hold = { name: "FishCo", type: "hold", quantity: 1 } as unknown as Parameters<StockBazaarClient["trade"]>[0];
  await client.trade(hold).then(() => assert.unreachable(), (err: unknown) => assert.instance(err, TypeError));
  await client.lookup("FishCo", { requestId: "has space" }).then(
    () => assert.unreachable(),
    (err: unknown) => assert.instance(err, RangeError),
  );
});

test("calls share one keep-alive connection, also after the server closed an idle one", async () => {
  const fake = await fakeFrontend((req, res) => {
    const name = decodeURIComponent(req.url?.slice(8) ?? "");
    // Like the frontend's idle timeout: the server closes a kept-alive connection on its own.
    if (name === "then idle") res.on("finish", () => req.socket.end());
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ data: { name, price: 1, quantity: 5, volume: 0 } }));
  });
  const one = new StockBazaarClient({ baseUrl: fake.url, connectionsMax: 1 });
  try {
    for (let i = 0; i < 5; i++) assert.is((await one.lookup("A B")).data.name, "A B");
    assert.is(fake.connections(), 1, "five calls, one connection");
    await Promise.all([one.lookup("X"), one.lookup("Y"), one.lookup("Z")]);
    assert.is(fake.connections(), 1, "concurrent calls queue for the one connection");
    await one.lookup("then idle");
    await sleep(idleCloseWaitMs);
    assert.is((await one.lookup("after idle")).data.name, "after idle");
    assert.is(fake.connections(), 2, "the server closed the idle connection; the call went out on a new one");
  } finally {
    one.close();
    fake.close();
  }
});

test("request ids and Server-Timing: sent when given, returned when the server sends them", async () => {
  let seen: string | undefined;
  const fake = await fakeFrontend((req, res) => {
    seen = req.headers["x-request-id"] as string | undefined;
    res.setHeader("content-type", "application/json");
    res.setHeader("x-request-id", seen ?? "generated-1");
    res.setHeader("server-timing", "lookup;dur=0.4");
    res.end(JSON.stringify({ data: { name: "A", price: 1, quantity: 5, volume: 0 } }));
  });
  const c = new StockBazaarClient({ baseUrl: fake.url });
  try {
    const mine = await c.lookup("A", { requestId: "mine-42" });
    assert.is(seen, "mine-42");
    assert.is(mine.requestId, "mine-42");
    assert.is(mine.serverTiming, "lookup;dur=0.4");
    assert.is((await c.lookup("A")).requestId, "generated-1");
  } finally {
    c.close();
    fake.close();
  }
});

test("503 carries Retry-After; other statuses and non-JSON answers are their own errors", async () => {
  const answers: Record<string, [number, Record<string, string>, string]> = {
    "/stocks/busy": [503, { "retry-after": "3" }, JSON.stringify({ error: { code: 503, message: "busy" } })],
    "/stocks/bug": [500, {}, JSON.stringify({ error: { code: 500, message: "internal error" } })],
    "/stocks/proxy": [502, { "content-type": "text/html" }, "<html>bad gateway</html>"],
    "/stocks/empty": [200, {}, JSON.stringify({ nothing: true })],
    "/stocks/odd": [200, {}, JSON.stringify({ data: { name: "odd", price: "1" } })],
  };
  const fake = await fakeFrontend((req, res) => {
    const [status, headers, body] = answers[req.url ?? ""] ?? [404, {}, "{}"];
    res.writeHead(status, { "content-type": "application/json", ...headers }).end(body);
  });
  const c = new StockBazaarClient({ baseUrl: fake.url });
  try {
    const busy = await failure(c.lookup("busy"));
    assert.instance(busy, UnavailableError);
    assert.is((busy as UnavailableError).retryAfterSeconds, 3);
    assert.is(busy.code, "ERR_UNAVAILABLE");
    const bug = await failure(c.lookup("bug"));
    assert.instance(bug, UnexpectedStatusError);
    assert.is(bug.status, 500);
    for (const name of ["proxy", "empty", "odd"]) {
      const err = await failure(c.lookup(name));
      assert.instance(err, BadResponseError, name);
      assert.is(err.code, "ERR_BAD_RESPONSE");
    }
  } finally {
    c.close();
    fake.close();
  }
});

test("no answer within the deadline is a TimeoutError; no server is a NetworkError", async () => {
  const fake = await fakeFrontend(() => {/* never answers */});
  const c = new StockBazaarClient({ baseUrl: fake.url, deadlineMs: 5_000 });
  try {
    const late = await failure(c.lookup("A", { deadlineMs: 100 }));
    assert.instance(late, TimeoutError);
    assert.is(late.code, "ERR_TIMEOUT");
    assert.is((late as TimeoutError).deadlineMs, 100);
    assert.is(late.status, undefined);
  } finally {
    c.close();
    fake.close();
  }
  const nobody = new StockBazaarClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
  const refused = await failure(nobody.lookup("A"));
  assert.instance(refused, NetworkError);
  assert.is(refused.code, "ERR_NETWORK");
  assert.match(refused.message, /ECONNREFUSED/);
  nobody.close();
});

test("with the catalog down: a lookup is UnavailableError with Retry-After, and health() says not ok", async () => {
  await system.kill(system.catalog);
  const err = await failure(client.lookup("NeverLookedUpCo"));
  assert.instance(err, UnavailableError);
  assert.is((err as UnavailableError).retryAfterSeconds, 1);
  const health = await client.health();
  assert.is(health.ok, false);
  assert.is(health.status, 503);
  assert.is(health.data.status, "degraded");
});

test.run();
