// frontend/metrics.ts: labels come from the API's route patterns (api.ts) and a fixed set of
// methods, so no stock name, order number or invented method becomes a series; each answered request is one
// observation of its route, method and status; GET /metrics carries the exposition.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { Logger } from "../lib/log.ts";
import type { HttpRequest } from "./http/parser.ts";
import { LeaderSelector } from "./leader_selector.ts";
import { createApi } from "./api.ts";
import type { ApiDeps } from "./api.ts";
import { createFrontendMetrics, methodLabel } from "./metrics.ts";
import { OrderGateway } from "./order_gateway.ts";
import type { ReaderStats } from "./cache/stock_reader.ts";

/** The route label the API reports for GET `path` (stub dependencies: every route answers). */
async function routeLabel(path: string): Promise<string> {
  let label = "";
  const deps = {
    stocks: { cached: () => undefined, lookup: () => Promise.resolve(undefined), tradeDone: () => undefined },
    orders: { get: () => Promise.reject(new Error("stub")) },
    health: () => Promise.resolve({ ok: true, body: {} }),
    metrics: () => Promise.resolve({ status: 200, body: "" }),
    observe: (route: string) => {
      label = route;
    },
    log: new Logger("test", {}, "silent"),
  } as unknown as ApiDeps;
  await createApi(deps)(request("GET", path));
  return label;
}

test("route labels are the API's patterns; anything else is 'other'", async () => {
  assert.is(await routeLabel("/stocks/GameStart"), "/stocks/{name}");
  assert.is(await routeLabel("/stocks/%E2%82%AC"), "/stocks/{name}");
  assert.is(await routeLabel("/orders"), "/orders");
  assert.is(await routeLabel("/orders/12"), "/orders/{number}");
  assert.is(await routeLabel("/health"), "/health");
  assert.is(await routeLabel("/metrics"), "/metrics");
  assert.is(await routeLabel("/stocks/a/b"), "other");
  assert.is(await routeLabel("/"), "other");
  assert.is(methodLabel("GET"), "GET");
  assert.is(methodLabel("BREW"), "other");
});

function request(method: string, path: string): HttpRequest {
  return { method, path, headers: {}, requestId: "test" } as unknown as HttpRequest;
}

test("each answered request is one observation of its route, method and status", async () => {
  const log = new Logger("test", {}, "silent");
  const leaders = new LeaderSelector([{ id: 1, addr: { host: "127.0.0.1", port: 1 } }], log);
  try {
    const stats: ReaderStats = {
      backend: "lru",
      state: "ok",
      size: 2,
      capacity: 5,
      hits: 7,
      misses: 3,
      evictions: 1,
      keys: [],
      subscribed: true,
      bypassed: 0,
      subscription: { state: "subscribed", subscriptions: 1, invalidations: 4, breaks: 0, failedAttempts: 0, lastBreak: undefined },
    } as ReaderStats;
    const metrics = createFrontendMetrics({
      cacheStats: () => Promise.resolve(stats),
      leaders,
      orders: new OrderGateway(leaders, log),
      connections: () => 3,
    });
    metrics.observe("/stocks/{name}", "GET", 200, performance.now());
    metrics.observe("/stocks/{name}", "GET", 200, performance.now());
    metrics.observe("other", "BREW", 404, performance.now());
    const reply = await metrics.respond();
    assert.is(reply.status, 200);
    assert.match(reply.headers?.["content-type"] ?? "", /^text\/plain/);
    const text = String(reply.body);
    const name = "stockbazaar_frontend_http_request_duration_seconds_count";
    assert.match(text, `${name}{route="/stocks/{name}",method="GET",status="200"} 2`);
    assert.match(text, `${name}{route="other",method="other",status="404"} 1`);
    assert.not.match(text, "GameStart", "a stock name is never a label");
    assert.match(text, "stockbazaar_frontend_cache_hits_total 7");
    assert.match(text, "stockbazaar_frontend_cache_invalidations_total 4");
    assert.match(text, "stockbazaar_frontend_http_connections 3");
    assert.match(text, "stockbazaar_frontend_leader_id 0", "no leader selected yet");
  } finally {
    leaders.close();
  }
});

test.run();
