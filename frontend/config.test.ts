// Frontend configuration: defaults, every HTTP limit settable from the environment, and bad
// values refused with the variable's name.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, envLogLevel } from "../lib/config.ts";
import { orderQuantityMax, stockNameBytesMax } from "../lib/protocol.ts";
import { readCacheConfig } from "./cache/cache_config.ts";
import { httpLimitVariable, loadFrontendConfig, loadHttpLimits, orderBodyBytesMin } from "./config.ts";
import { defaultLimits } from "./http/limits.ts";
import { frontendVariables } from "./usage.ts";
import { variablesRead } from "../test/support/env_reads.ts";
import { thrown } from "../test/support/throws.ts";

test("defaults follow README: Configuration", () => {
  const config = loadFrontendConfig({});
  assert.is(config.port, 8080);
  assert.is(config.host, "127.0.0.1");
  assert.equal(config.catalogAddr, { host: "127.0.0.1", port: 50051 });
  assert.equal(config.replicas.map((r) => r.id), [3, 2, 1]);
  assert.equal(config.httpLimits, defaultLimits);
});

test("every HTTP limit has a variable, and setting it changes that limit only", () => {
  for (const name of Object.keys(defaultLimits) as (keyof typeof defaultLimits)[]) {
    const variable = httpLimitVariable(name);
    assert.match(variable, /^HTTP_[A-Z_]+$/);
    const value = defaultLimits[name] + 1;
    const limits = loadHttpLimits({ [variable]: String(value) });
    assert.is(limits[name], value, variable);
  }
  assert.is(httpLimitVariable("headerBytesMax"), "HTTP_HEADER_BYTES_MAX");
});

test("a bad HTTP limit names its variable", () => {
  for (
    const [variable, value] of [
      ["HTTP_BODY_BYTES_MAX", "big"],
      ["HTTP_CONNECTIONS_MAX", "0"],
      ["HTTP_HEADER_BYTES_MAX", "10"],
      ["HTTP_BODY_BYTES_MAX", "0"],
      ["HTTP_BODY_BYTES_MAX", String(orderBodyBytesMin - 1)],
      ["HTTP_HEADER_COUNT_MAX", "0"],
      ["HTTP_PIPELINED_REQUESTS_MAX", "-1"],
      ["HTTP_CONNECTIONS_MAX", "1e3"],
      ["HTTP_IDLE_TIMEOUT_MS", "99999999999999999999"],
      ["HTTP_IDLE_TIMEOUT_MS", " "],
    ] as const
  ) {
    assert.is(thrown(() => loadHttpLimits({ [variable]: value }), ConfigError).variable, variable, `${variable}=${value}`);
  }
  assert.is(loadHttpLimits({ HTTP_BODY_BYTES_MAX: String(orderBodyBytesMin) }).bodyBytesMax, orderBodyBytesMin, "at the limit");
});

test("the HTTP_BODY_BYTES_MAX floor holds the longest valid order body: a 64-byte name, each byte escaped", () => {
  const body = `{"name":"${"\\u0041".repeat(stockNameBytesMax)}","type":"sell","quantity":${orderQuantityMax}}`;
  assert.is((JSON.parse(body) as { name: string }).name, "A".repeat(stockNameBytesMax));
  assert.is(Buffer.byteLength(body), orderBodyBytesMin);
});

test("--help lists exactly the variables the frontend reads", () => {
  const read = variablesRead({}, (env) => [loadFrontendConfig(env), readCacheConfig(env), envLogLevel(env)]);
  assert.equal([...read].sort(), frontendVariables.map((v) => v.name).sort());
});

test.run();
