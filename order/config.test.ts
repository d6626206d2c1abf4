// Order replica configuration: the defaults, every bad setting naming its variable, and
// order/main.ts run as a process: one line and exit code 2 for bad configuration, a graceful
// SIGTERM, and a log from before epochs refused untouched.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError } from "../lib/config.ts";
import { listeningPort } from "../lib/log.ts";
import { freePort } from "../lib/service_process.ts";
import { runToExit } from "../test/support/processes.ts";
import { orderVariables, readOrderConfig } from "./config.ts";
import { variablesRead } from "../test/support/env_reads.ts";
import { thrown } from "../test/support/throws.ts";

function configError(env: Record<string, string>): ConfigError {
  return thrown(() => readOrderConfig(env), ConfigError);
}

/** Run order/main.ts with `env` only (none of the runner's); `whenListening` runs once it logs its listening line. */
function runMain(env: Record<string, string>, whenListening?: (pid: number) => void): ReturnType<typeof runToExit> {
  return runToExit("order/main.ts", env, {
    timeoutMs: 20_000,
    inheritEnv: false,
    ...(whenListening ? { onListening: whenListening } : {}),
  });
}

test("defaults: PORT is this replica's port in ORDER_REPLICAS, the peers are the others", () => {
  const config = readOrderConfig({ ORDER_ID: "2" });
  assert.is(config.id, 2);
  assert.is(config.port, 50062);
  assert.is(config.host, "127.0.0.1");
  assert.equal(config.peers.map((p) => p.id), [3, 1]);
  assert.equal(config.catalogAddr, { host: "127.0.0.1", port: 50051 });
  assert.is(config.dataDir, path.resolve("./data"));
  assert.is(config.logLevel, "info");
  assert.is(config.metricsPort, undefined, "no metrics listener unless METRICS_PORT is set");
  assert.is(readOrderConfig({ ORDER_ID: "2", METRICS_PORT: "9465" }).metricsPort, 9465);
  const custom = readOrderConfig({ ORDER_ID: "5", ORDER_REPLICAS: "5@10.0.0.5:7000,6@10.0.0.6:7001", PORT: "9000", CATALOG_ADDR: "cat:1" });
  assert.equal([custom.port, custom.peers.map((p) => p.id), custom.catalogAddr.host], [9000, [6], "cat"]);
});

test("every bad setting names its variable", () => {
  assert.is(configError({}).variable, "ORDER_ID");
  assert.match(configError({ ORDER_ID: "4" }).message, /ORDER_ID must be one of the ids in ORDER_REPLICAS \(1, 2, 3\)/);
  assert.is(configError({ ORDER_ID: "x" }).variable, "ORDER_ID");
  assert.is(configError({ ORDER_ID: "1", ORDER_REPLICAS: "1@host" }).variable, "ORDER_REPLICAS");
  assert.is(configError({ ORDER_ID: "1", PORT: "70000" }).variable, "PORT");
  assert.is(configError({ ORDER_ID: "1", CATALOG_ADDR: "nohost" }).variable, "CATALOG_ADDR");
  assert.is(configError({ ORDER_ID: "1", LOG_LEVEL: "loud" }).variable, "LOG_LEVEL");
  assert.is(configError({ ORDER_ID: "1", HOST: "a b" }).variable, "HOST");
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sb-order-config-")), "plain-file");
  fs.writeFileSync(file, "");
  assert.is(configError({ ORDER_ID: "1", DATA_DIR: file }).variable, "DATA_DIR");
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  for (
    const [env, variable] of [
      [{ ORDER_ID: "toString" }, "ORDER_ID"],
      [{ ORDER_ID: "1.0" }, "ORDER_ID"],
      [{ ORDER_ID: " " }, "ORDER_ID"],
      [{ ORDER_ID: "1", LOG_LEVEL: "constructor" }, "LOG_LEVEL"],
      [{ ORDER_ID: "1", METRICS_PORT: "70000" }, "METRICS_PORT"],
      [{ ORDER_ID: "1", ORDER_REPLICAS: "1@a:1,,2@b:2" }, "ORDER_REPLICAS"],
      [{ ORDER_ID: "1", ORDER_REPLICAS: "1@a:0" }, "ORDER_REPLICAS"],
      [{ ORDER_ID: "1", ORDER_TEST_CRASH_AFTER_CATALOG_BATCHES: "-1" }, "ORDER_TEST_CRASH_AFTER_CATALOG_BATCHES"],
    ] as const
  ) {
    assert.is(configError(env).variable, variable, JSON.stringify(env));
  }
});

test("--help lists exactly the variables the reader reads", () => {
  assert.equal([...variablesRead({ ORDER_ID: "1" }, readOrderConfig)].sort(), orderVariables.map((v) => v.name).sort());
});

test("missing ORDER_ID: one line naming it, exit code 2", async () => {
  const exit = await runMain({});
  assert.is(exit.code, 2);
  assert.equal(exit.output.trim().split("\n").length, 1);
  assert.match(exit.output, /ORDER_ID/);
});

test("SIGTERM stops a replica gracefully with exit code 0", async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-order-main-"));
  const exit = await runMain(
    { ORDER_ID: "1", ORDER_REPLICAS: `1@127.0.0.1:${port}`, DATA_DIR: dir, CATALOG_ADDR: "127.0.0.1:1" },
    (pid) => process.kill(pid, "SIGTERM"),
  );
  assert.is(exit.code, 0, exit.output);
  assert.ok(exit.output.split("\n").some((line) => listeningPort(line) === port), exit.output);
  assert.match(exit.output, /stopped/);
  assert.is(fs.readFileSync(path.join(dir, "orders-1.csv"), "utf8"), "number,epoch,name,type,quantity,request_id\n");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a log written before orders carried epochs: the replica refuses to start, naming the file, and leaves it alone", async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-order-main-"));
  const file = path.join(dir, "orders-1.csv");
  const old = "number,name,type,quantity,request_id\n0,GameStart,buy,1,r0\n";
  fs.writeFileSync(file, old);
  const exit = await runMain({ ORDER_ID: "1", ORDER_REPLICAS: `1@127.0.0.1:${port}`, DATA_DIR: dir, CATALOG_ADDR: "127.0.0.1:1" });
  assert.is(exit.code, 1, exit.output);
  assert.ok(exit.output.includes(`Cannot load order log ${file}: line 1`), exit.output);
  assert.match(exit.output, /no epoch column/);
  assert.not.match(exit.output, /listening/);
  assert.is(fs.readFileSync(file, "utf8"), old);
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
