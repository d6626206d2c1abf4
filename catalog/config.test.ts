// Configuration from the environment: defaults, and each variable refused with its name at
// its limit plus one.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError } from "../lib/config.ts";
import { catalogVariables, readCatalogConfig } from "./config.ts";
import { lookupDelayMsMax } from "./limits.ts";
import { variablesRead } from "../test/support/env_reads.ts";
import { thrown } from "../test/support/throws.ts";

function refused(env: Record<string, string>): ConfigError {
  return thrown(() => readCatalogConfig(env), ConfigError);
}

test("defaults: 127.0.0.1:50051, ./data, info, no lookup delay", () => {
  assert.equal(readCatalogConfig({}), {
    host: "127.0.0.1",
    port: 50051,
    dataDir: path.resolve("./data"),
    logLevel: "info",
    lookupDelayMs: 0,
    metricsPort: undefined,
  });
  assert.equal(readCatalogConfig({ PORT: "", LOG_LEVEL: "", METRICS_PORT: "" }), readCatalogConfig({}), "empty means unset");
});

test("every variable is read", () => {
  const config = readCatalogConfig({
    HOST: "0.0.0.0",
    PORT: "0",
    DATA_DIR: "/tmp/x",
    LOG_LEVEL: "debug",
    CATALOG_LOOKUP_DELAY_MS: String(lookupDelayMsMax),
    METRICS_PORT: "9464",
  });
  assert.equal(config, {
    host: "0.0.0.0",
    port: 0,
    dataDir: "/tmp/x",
    logLevel: "debug",
    lookupDelayMs: lookupDelayMsMax,
    metricsPort: 9464,
  });
  assert.is(readCatalogConfig({ METRICS_PORT: "65535" }).metricsPort, 65535);
});

test("--help lists exactly the variables the reader reads", () => {
  assert.equal([...variablesRead({}, readCatalogConfig)].sort(), catalogVariables.map((v) => v.name).sort());
});

test("a wrong value names its variable", () => {
  assert.is(refused({ PORT: "65536" }).variable, "PORT");
  assert.is(refused({ PORT: "-1" }).variable, "PORT");
  assert.is(refused({ PORT: "80a" }).variable, "PORT");
  assert.is(refused({ HOST: "a b" }).variable, "HOST");
  assert.is(refused({ LOG_LEVEL: "verbose" }).variable, "LOG_LEVEL");
  assert.is(refused({ CATALOG_LOOKUP_DELAY_MS: String(lookupDelayMsMax + 1) }).variable, "CATALOG_LOOKUP_DELAY_MS");
  assert.is(refused({ CATALOG_LOOKUP_DELAY_MS: "-1" }).variable, "CATALOG_LOOKUP_DELAY_MS");
});

test("nonsense is refused with the variable's name: prototype keys, spaces, fractions, exponents, huge numbers", () => {
  const cases: [Record<string, string>, string][] = [
    [{ LOG_LEVEL: "toString" }, "LOG_LEVEL"],
    [{ LOG_LEVEL: "__proto__" }, "LOG_LEVEL"],
    [{ LOG_LEVEL: "hasOwnProperty" }, "LOG_LEVEL"],
    [{ PORT: "   " }, "PORT"],
    [{ PORT: "80.5" }, "PORT"],
    [{ PORT: "8e3" }, "PORT"],
    [{ PORT: "0x50" }, "PORT"],
    [{ PORT: "99999999999999999999" }, "PORT"],
    [{ METRICS_PORT: "65536" }, "METRICS_PORT"],
    [{ METRICS_PORT: "-1" }, "METRICS_PORT"],
    [{ METRICS_PORT: "metrics" }, "METRICS_PORT"],
    [{ HOST: " " }, "HOST"],
    [{ CATALOG_LOOKUP_DELAY_MS: "1.5" }, "CATALOG_LOOKUP_DELAY_MS"],
  ];
  for (const [env, variable] of cases) {
    const err = refused(env);
    assert.is(err.variable, variable, JSON.stringify(env));
    assert.not.match(err.message, "\n", "one line");
  }
});

test("DATA_DIR that is a file is refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-config-"));
  try {
    const file = path.join(dir, "plain-file");
    fs.writeFileSync(file, "");
    assert.is(refused({ DATA_DIR: file }).variable, "DATA_DIR");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
