// Choosing the cache backend from the environment: defaults, turning it off, and one clear
// ConfigError naming the variable for each bad value.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError } from "../../lib/config.ts";
import { Logger, parseLogLine } from "../../lib/log.ts";
import { cacheSizeMax } from "./cache.ts";
import { cacheEventLogger, cacheSizeDefault, createCacheFromEnv, readCacheConfig } from "./cache_config.ts";

const log = new Logger("cache-config-test", {}, "error");

test("default: in-process LRU smaller than the catalog's ten or more stocks", async () => {
  assert.equal(readCacheConfig({}), { backend: "lru", size: cacheSizeDefault, redisUrl: undefined, logEvents: false });
  assert.ok(cacheSizeDefault < 10);
  const cache = createCacheFromEnv({}, log);
  assert.equal([cache.backend, cache.capacity], ["lru", cacheSizeDefault]);
  await cache.close();
});

test("CACHE_SIZE=0 and CACHE=off turn caching off, whatever REDIS_URL says", () => {
  assert.is(readCacheConfig({ CACHE_SIZE: "0" }).backend, "off");
  assert.is(readCacheConfig({ CACHE: "off", CACHE_SIZE: "7", REDIS_URL: "redis://127.0.0.1:1" }).backend, "off");
  assert.is(createCacheFromEnv({ CACHE: "off" }, log).backend, "off");
});

test("REDIS_URL chooses Redis with the same CACHE_SIZE", () => {
  assert.equal(readCacheConfig({ REDIS_URL: "redis://cache:6379", CACHE_SIZE: "8" }), {
    backend: "redis",
    size: 8,
    redisUrl: "redis://cache:6379",
    logEvents: false,
  });
});

test("CACHE_SIZE at its limit and one past it", () => {
  assert.is(readCacheConfig({ CACHE_SIZE: String(cacheSizeMax) }).size, cacheSizeMax);
  for (const bad of [String(cacheSizeMax + 1), "-1", "5.5", "five"]) {
    assert.throws(() => readCacheConfig({ CACHE_SIZE: bad }), (err: Error) => err instanceof ConfigError && err.variable === "CACHE_SIZE");
  }
});

test("bad CACHE, CACHE_LOG and REDIS_URL name their variable, never a password", () => {
  const cases: [Record<string, string>, string][] = [
    [{ CACHE: "maybe" }, "CACHE"],
    [{ CACHE_LOG: "yes" }, "CACHE_LOG"],
    [{ REDIS_URL: "not a url" }, "REDIS_URL"],
    [{ REDIS_URL: "http://user:secret@host:6379" }, "REDIS_URL"],
    [{ REDIS_URL: "redis://user:secret@:6379" }, "REDIS_URL"],
    [{ REDIS_URL: "redis://host:70000" }, "REDIS_URL"],
    [{ CACHE: "toString" }, "CACHE"],
    [{ CACHE_LOG: "  " }, "CACHE_LOG"],
  ];
  for (const [env, variable] of cases) {
    assert.throws(
      () => readCacheConfig(env),
      (err: Error) => err instanceof ConfigError && err.variable === variable && !err.message.includes("secret"),
    );
  }
});

test("CACHE_LOG=1 logs events with the cached names", () => {
  const lines: string[] = [];
  const recorder = new Logger("cache-log-test", {}, "info", { destination: { write: (line) => lines.push(line) } });
  cacheEventLogger(recorder)({ kind: "evict", name: "A" }, ["B", "C"]);
  assert.is(lines.length, 1);
  const record = parseLogLine(lines[0] as string);
  assert.equal([record?.["msg"], record?.["name"], record?.["keys"]], ["cache evict", "A", "[B,C]"]);
});

test.run();
