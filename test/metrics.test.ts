// Prometheus metrics on a real system: the frontend's GET /metrics counts the requests just
// made by route and status and shows its cache and leader; the catalog and each replica serve
// GET /metrics on METRICS_PORT (and nothing else there) with trades, fsyncs, role and
// replication lag. A bad METRICS_PORT stops a service at start naming the variable.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePort } from "../lib/service_process.ts";
import { LocalSystem } from "./support/local_system.ts";
import { killAll, runToExit, tempDir } from "./support/processes.ts";
import { reported } from "./support/hooks.ts";
import { requestJson, waitForCacheInUse } from "./support/http.ts";
import type { JsonReply } from "./support/http.ts";
import { waitFor } from "./support/wait.ts";

/** Patience for the leader to hear from both followers after the trades. */
const replicationWaitMs = 15_000;

const systems: LocalSystem[] = [];

test.after(reported("cleanup", async () => {
  for (const s of systems.splice(0)) await s.stop();
  killAll();
}));

/** A request to `port` on this host, as the scraper sends it. */
const get = (port: number, path: string, method = "GET"): Promise<JsonReply> => requestJson(`http://127.0.0.1:${port}`, method, path);

/** The value of the sample `name{labels}` in exposition text (labels in the order written), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? "").split(",").filter((l) => l !== "");
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(match[3]);
  }
  return undefined;
}

async function scrape(port: number): Promise<string> {
  const reply = await get(port, "/metrics");
  assert.is(reply.status, 200);
  assert.match(String(reply.headers["content-type"] ?? ""), /^text\/plain; version=0\.0\.4/);
  assert.type(reply.body, "string", "exposition text (requestJson parses a body only when it is JSON)");
  return reply.body;
}

test("the frontend's /metrics, and the catalog's and replicas' METRICS_PORT", async () => {
  const catalogMetricsPort = await freePort();
  const replicaMetricsPorts = new Map<number, number>();
  for (const id of [1, 2, 3]) replicaMetricsPorts.set(id, await freePort());
  const system = await LocalSystem.start({
    catalogEnv: { METRICS_PORT: String(catalogMetricsPort) },
    replicaEnv: Object.fromEntries([...replicaMetricsPorts].map(([id, port]) => [id, { METRICS_PORT: String(port) }])),
  });
  systems.push(system);
  try {
    const base = system.url;
    // Two lookups of one stock (a miss, then a hit once the invalidation stream is confirmed),
    // a trade, its order, an unknown path and a wrong method.
    await waitForCacheInUse(base);
    assert.is((await requestJson(base, "GET", "/stocks/GameStart")).status, 200);
    assert.is((await requestJson(base, "GET", "/stocks/GameStart")).status, 200);
    const trade = await requestJson(base, "POST", "/orders", { name: "GameStart", quantity: 1, type: "buy" });
    assert.is(trade.status, 200);
    assert.is((await requestJson(base, "GET", `/orders/${trade.body.data.transaction_number}`)).status, 200);
    assert.is((await requestJson(base, "GET", "/no/such/path")).status, 404);
    assert.is((await requestJson(base, "DELETE", "/orders")).status, 405);

    const front = await scrape(system.frontendPort);
    const count = (route: string, method: string, status: string): number | undefined =>
      sample(front, "stockbazaar_frontend_http_request_duration_seconds_count", { route, method, status });
    assert.is(count("/stocks/{name}", "GET", "200"), 2, "stock names never become labels");
    assert.is(count("/orders", "POST", "200"), 1);
    assert.is(count("/orders/{number}", "GET", "200"), 1);
    assert.is(count("other", "GET", "404"), 1);
    assert.is(count("/orders", "DELETE", "405"), 1);
    assert.ok((sample(front, "stockbazaar_frontend_cache_hits_total") ?? 0) >= 1, "the second lookup hit");
    assert.ok((sample(front, "stockbazaar_frontend_cache_misses_total") ?? 0) >= 1, "the first lookup missed");
    assert.is(sample(front, "stockbazaar_frontend_cache_subscribed"), 1);
    assert.ok((sample(front, "stockbazaar_frontend_cache_invalidations_total") ?? 0) >= 1, "the trade's invalidation arrived");
    const leader = sample(front, "stockbazaar_frontend_leader_id") ?? 0;
    assert.ok([1, 2, 3].includes(leader), `a leader is selected (${leader})`);
    assert.ok((sample(front, "stockbazaar_frontend_leader_epoch") ?? 0) >= 1);
    assert.is(sample(front, "stockbazaar_frontend_place_batch_orders_total"), 1);
    assert.ok(sample(front, "process_cpu_seconds_total") !== undefined, "the runtime's default metrics are there");

    const catalog = await scrape(catalogMetricsPort);
    assert.ok((sample(catalog, "stockbazaar_catalog_trades_applied_total") ?? 0) >= 1);
    assert.ok((sample(catalog, "stockbazaar_catalog_last_number") ?? -1) >= 0);
    assert.is(sample(catalog, "stockbazaar_catalog_storage_failed"), 0);
    assert.is(sample(catalog, "stockbazaar_catalog_invalidation_subscribers"), 1);
    assert.ok((sample(catalog, "stockbazaar_catalog_journal_fsyncs_total") ?? 0) >= 1);
    assert.ok((sample(catalog, "stockbazaar_fsync_duration_seconds_count", { kind: "append" }) ?? 0) >= 1, "journal fsyncs are timed");
    assert.is((await get(catalogMetricsPort, "/other")).status, 404);
    assert.is((await get(catalogMetricsPort, "/metrics", "POST")).status, 404);

    const leaderPort = replicaMetricsPorts.get(leader) as number;
    const followers = [1, 2, 3].filter((id) => id !== leader);
    let leading = "";
    // The leader's followers acknowledge the trade's Append soon after the trade is answered.
    await waitFor(
      async () => {
        leading = await scrape(leaderPort);
        return followers.every((id) => sample(leading, "stockbazaar_order_replication_lag_entries", { follower: String(id) }) === 0);
      },
      replicationWaitMs,
      "both followers to hold every order",
    );
    assert.is(sample(leading, "stockbazaar_order_role", { role: "leader" }), 1);
    assert.is(sample(leading, "stockbazaar_order_role", { role: "follower" }), 0);
    assert.is(sample(leading, "stockbazaar_order_serving"), 1);
    assert.is(sample(leading, "stockbazaar_order_disk_failed"), 0);
    assert.ok((sample(leading, "stockbazaar_order_last_number") ?? -1) >= 0);
    assert.ok((sample(leading, "stockbazaar_order_log_fsyncs_total") ?? 0) >= 1);
    assert.ok((sample(leading, "stockbazaar_fsync_duration_seconds_count", { kind: "append" }) ?? 0) >= 1);
    for (const id of followers) {
      const text = await scrape(replicaMetricsPorts.get(id) as number);
      assert.is(sample(text, "stockbazaar_order_role", { role: "follower" }), 1);
      assert.is(sample(text, "stockbazaar_order_leader_id"), leader);
      assert.is(sample(text, "stockbazaar_order_catch_up_behind_entries"), 0);
      assert.is(
        sample(text, "stockbazaar_order_replication_lag_entries", { follower: String(leader) }),
        undefined,
        "only a leader has lag",
      );
    }
  } catch (err) {
    process.stderr.write(`${system.logs().slice(-20_000)}\n`);
    throw err;
  }
});

test("a METRICS_PORT that is not a port stops the service at start, naming the variable", async () => {
  for (const [entry, env] of [["catalog/main.ts", {}], ["order/main.ts", { ORDER_ID: "1" }]] as const) {
    const exit = await runToExit(entry, { ...env, DATA_DIR: tempDir("metrics-port", true), METRICS_PORT: "http" }, { timeoutMs: 20_000 });
    assert.is(exit.code, 2, exit.output);
    assert.match(exit.output, "METRICS_PORT must be an integer from 0 to 65535");
  }
});

test.run();
