// The logs of a real frontend that cannot reach any order replica while a client waits on one
// order: every line is a JSON record, and the retry loops stay quiet — each repeating message at
// most once per interval, with the count it left out — instead of a line per retry (README "Logs").

import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseLogLine, repeatIntervalMsDefault } from "../lib/log.ts";
import { freePort } from "../lib/service_process.ts";
import { leaderWarnIntervalMs } from "../frontend/limits.ts";
import { requestJson } from "./support/http.ts";
import { startTracked } from "./support/processes.ts";

test("no reachable replica, one order: a 503, and at most one line per message per interval", async () => {
  // Ports nobody listens on: every Health, SetLeader and Lookup fails at once.
  const [catalogPort, p1, p2, p3] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const lines: string[] = [];
  const frontend = await startTracked({
    name: "frontend",
    entry: "frontend/main.ts",
    env: {
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "info",
      CATALOG_ADDR: `127.0.0.1:${catalogPort}`,
      ORDER_REPLICAS: `1@127.0.0.1:${p1},2@127.0.0.1:${p2},3@127.0.0.1:${p3}`,
    },
    onLine: (line) => lines.push(line),
  });
  try {
    const from = lines.length;
    const startedMs = Date.now();
    const reply = await requestJson(`http://127.0.0.1:${frontend.port}`, "POST", "/orders", {
      name: "GameStart",
      type: "buy",
      quantity: 1,
    });
    const elapsedMs = Date.now() - startedMs;
    assert.is(reply.status, 503, JSON.stringify(reply.body));

    const records = lines.slice(from).map((line) => {
      const record = parseLogLine(line);
      assert.ok(record !== undefined, `not a JSON record: ${line}`);
      return record as Record<string, unknown>;
    });
    const byMsg = new Map<string, number>();
    for (const r of records) byMsg.set(String(r["msg"]), (byMsg.get(String(r["msg"])) ?? 0) + 1);
    const intervalMs = Math.min(repeatIntervalMsDefault, leaderWarnIntervalMs);
    const perMessageMax = 1 + Math.ceil(elapsedMs / intervalMs);
    for (const [msg, count] of byMsg) assert.ok(count <= perMessageMax, `"${msg}" ${count} times in ${elapsedMs} ms: ${[...byMsg]}`);
    // The retries did happen: the limiter left lines out and said so.
    assert.ok(records.some((r) => typeof r["suppressed"] === "number" && r["suppressed"] > 0), JSON.stringify([...byMsg]));
    assert.ok(byMsg.has("order call failed, reselecting leader"), JSON.stringify([...byMsg]));
  } finally {
    await frontend.stop();
  }
});

test.run();
