// Frontend configuration: defaults, every HTTP limit settable from the environment, and bad
// values refused with the variable's name.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError } from "../lib/config.ts";
import { httpLimitVariable, loadFrontendConfig, loadHttpLimits } from "./config.ts";
import { defaultLimits } from "./http/limits.ts";
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
    const [variable, value] of [["HTTP_BODY_BYTES_MAX", "big"], ["HTTP_CONNECTIONS_MAX", "0"], ["HTTP_HEADER_BYTES_MAX", "10"]] as const
  ) {
    assert.is(thrown(() => loadHttpLimits({ [variable]: value }), ConfigError).variable, variable);
  }
});

test.run();
