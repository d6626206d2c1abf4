// A wrong or missing setting stops a service at start with one line naming the variable and
// exit code 2 (README "Configuration"). Real processes, real environment.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { runToExit, tempDir } from "./support/processes.ts";

/** A misconfigured service must exit long before this. */
const exitTimeoutMs = 20_000;

async function runWith(entry: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const exit = await runToExit(entry, { DATA_DIR: tempDir("config", true), PORT: "0", ...env }, { timeoutMs: exitTimeoutMs });
  // Everything the service wrote, stdout included: a misconfigured service writes one line in all.
  return { code: exit.code, stderr: exit.output };
}

const cases: [string, Record<string, string>, string][] = [
  ["catalog/main.ts", { PORT: "http" }, "PORT"],
  ["catalog/main.ts", { PORT: "70000" }, "PORT"],
  ["order/main.ts", { ORDER_ID: "" }, "ORDER_ID"],
  ["order/main.ts", { ORDER_ID: "7" }, "ORDER_ID"],
  ["order/main.ts", { ORDER_ID: "1", ORDER_REPLICAS: "1@localhost" }, "ORDER_REPLICAS"],
  ["order/main.ts", { ORDER_ID: "1", CATALOG_ADDR: "nowhere" }, "CATALOG_ADDR"],
  ["frontend/main.ts", { PORT: "-1" }, "PORT"],
  ["frontend/main.ts", { ORDER_REPLICAS: "1@a:1,1@b:2" }, "ORDER_REPLICAS"],
  ["frontend/main.ts", { CACHE_SIZE: "lots" }, "CACHE_SIZE"],
  ["frontend/main.ts", { LOG_LEVEL: "loud" }, "LOG_LEVEL"],
  ["frontend/main.ts", { HTTP_BODY_BYTES_MAX: "-5" }, "HTTP_BODY_BYTES_MAX"],
  ["frontend/main.ts", { HTTP_CONNECTIONS_MAX: "0" }, "HTTP_CONNECTIONS_MAX"],
  ["frontend/main.ts", { HTTP_BODY_BYTES_MAX: "0" }, "HTTP_BODY_BYTES_MAX"],
  ["frontend/main.ts", { LOG_LEVEL: "toString" }, "LOG_LEVEL"],
  ["catalog/main.ts", { METRICS_PORT: "65536" }, "METRICS_PORT"],
  ["order/main.ts", { ORDER_ID: "1", CACHE: "x", LOG_LEVEL: "   " }, "LOG_LEVEL"],
];

for (const [entry, env, variable] of cases) {
  test(`${entry} with ${JSON.stringify(env)} stops with a line naming ${variable}`, async () => {
    const { code, stderr } = await runWith(entry, env);
    assert.is(code, 2, stderr);
    const lines = stderr.trim().split("\n");
    assert.is(lines.length, 1, stderr);
    assert.match(lines[0] as string, new RegExp(`configuration error: ${variable}\\b`));
  });
}

test.run();
