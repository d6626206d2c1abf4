// lib/metrics.ts: collectors read the service's own counters at scrape time (and say nothing
// when there is nothing to say), the fsync histogram sees every sync of lib/durable_file.ts
// while observed and none after, and the METRICS_PORT listener answers GET /metrics only.

import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AppendFile, observeSyncs, writeFileAtomic } from "./durable_file.ts";
import { counterFrom, flag, gaugeFrom, observeFsyncs, Registry, serveMetrics } from "./metrics.ts";
import { Logger } from "./log.ts";

const requestTimeoutMs = 5_000;

/** The samples of one metric in exposition text, as `{labels} value` strings. */
function lines(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`)).map((l) => l.slice(name.length));
}

test("counters and gauges read the service's values when scraped; an unreadable value keeps the last one", async () => {
  const registry = new Registry();
  let served: number | undefined = 3;
  let leading = true;
  counterFrom(registry, { name: "test_served_total", help: "served" }, () => served);
  gaugeFrom(registry, { name: "test_lag", help: "lag", labelNames: ["follower"] }, async () =>
    leading
      ? [
        { labels: { follower: "1" }, value: 0 },
        { labels: { follower: "2" }, value: 7 },
      ]
      : []);
  let text = await registry.metrics();
  assert.equal(lines(text, "stockbazaar_test_served_total"), [" 3"]);
  assert.equal(lines(text, "stockbazaar_test_lag"), ['{follower="1"} 0', '{follower="2"} 7']);
  served = 5;
  text = await registry.metrics();
  assert.equal(lines(text, "stockbazaar_test_served_total"), [" 5"], "the current value, not a sum of scrapes");
  served = undefined;
  leading = false;
  text = await registry.metrics();
  assert.equal(lines(text, "stockbazaar_test_served_total"), [" 5"], "unreadable now: the last value stays, never 0");
  assert.equal(lines(text, "stockbazaar_test_lag"), [], "no samples: no series");
  assert.is(flag(true), 1);
  assert.is(flag(false), 0);
});

test("the fsync histogram counts each append and replace sync while observed, and none after", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-metrics-"));
  const registry = new Registry();
  try {
    observeFsyncs(registry);
    const file = await AppendFile.open(path.join(dir, "rows.csv"));
    await file.append("a\n");
    await file.append("b\n");
    await writeFileAtomic(path.join(dir, "whole.txt"), "x\n");
    observeSyncs(undefined);
    await file.append("c\n");
    await writeFileAtomic(path.join(dir, "whole.txt"), "y\n");
    await file.close();
    const text = await registry.metrics();
    assert.equal(lines(text, "stockbazaar_fsync_duration_seconds_count"), ['{kind="append"} 2', '{kind="replace"} 1']);
  } finally {
    observeSyncs(undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function request(port: number, method: string, target: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: target, timeout: requestTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on(
        "end",
        () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"] ?? "", body: Buffer.concat(chunks).toString("utf8") }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

test("the METRICS_PORT listener answers GET /metrics and 404 to anything else", async () => {
  const registry = new Registry();
  counterFrom(registry, { name: "test_served_total", help: "served" }, () => 1);
  const server = await serveMetrics(registry, "127.0.0.1", 0, new Logger("test", {}, "silent"));
  try {
    const ok = await request(server.port, "GET", "/metrics");
    assert.is(ok.status, 200);
    assert.is(ok.type, registry.contentType);
    assert.match(ok.body, "stockbazaar_test_served_total 1");
    assert.is((await request(server.port, "GET", "/metrics?x=1")).status, 200, "a query string is ignored");
    assert.is((await request(server.port, "GET", "/")).status, 404);
    assert.is((await request(server.port, "POST", "/metrics")).status, 404);
  } finally {
    await server.close();
  }
});

test.run();
