// Configuration from the environment: defaults, and each variable refused with its name at
// its limit plus one.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError } from "../lib/config.ts";
import { readCatalogConfig } from "./config.ts";
import { lookupDelayMsMax } from "./limits.ts";
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
  });
});

test("every variable is read", () => {
  const config = readCatalogConfig({
    HOST: "0.0.0.0",
    PORT: "0",
    DATA_DIR: "/tmp/x",
    LOG_LEVEL: "debug",
    CATALOG_LOOKUP_DELAY_MS: String(lookupDelayMsMax),
  });
  assert.equal(config, { host: "0.0.0.0", port: 0, dataDir: "/tmp/x", logLevel: "debug", lookupDelayMs: lookupDelayMsMax });
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
