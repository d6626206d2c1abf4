// Chooses and builds the cache backend from the environment (CACHE, CACHE_SIZE, REDIS_URL,
// CACHE_LOG). A bad value stops the frontend at start with a ConfigError naming the variable.
// It only builds: the reader starts the subscription and the frontend's main closes it.

import type { Env } from "../../lib/config.ts";
import { ConfigError, envChoice, envInt, envString } from "../../lib/config.ts";
import type { Logger } from "../../lib/log.ts";
import type { BackendName, CacheEventSink, StockCache } from "./cache.ts";
import { cacheSizeMax } from "./cache.ts";
import { LruCache } from "./lru_cache.ts";
import { NoCache } from "./no_cache.ts";
import { redactUrl, RedisCache } from "./redis_cache.ts";

/**
 * Default CACHE_SIZE. Deliberately smaller than the catalog's stock count (10 or more), so a
 * workload over all stocks makes the LRU replace entries, which the evaluation shows.
 */
export const cacheSizeDefault = 5;

export type CacheConfig = {
  readonly backend: BackendName;
  readonly size: number;
  readonly redisUrl: string | undefined;
  readonly logEvents: boolean;
};

export function readCacheConfig(env: Env): CacheConfig {
  const mode = envChoice(env, "CACHE", ["on", "off"], "on");
  const size = envInt(env, "CACHE_SIZE", cacheSizeDefault, 0, cacheSizeMax);
  const redisUrl = readRedisUrl(env);
  const logEvents = envChoice(env, "CACHE_LOG", ["0", "1"], "0") === "1";
  const off = mode === "off" || size === 0;
  return { backend: off ? "off" : redisUrl !== undefined ? "redis" : "lru", size: off ? 0 : size, redisUrl, logEvents };
}

function readRedisUrl(env: Env): string | undefined {
  const text = envString(env, "REDIS_URL", "");
  if (text === "") return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError("REDIS_URL", `must be a URL like redis://host:6379 (got "${redactUrl(text)}")`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConfigError("REDIS_URL", `must start with redis:// or rediss:// (got "${redactUrl(text)}")`);
  }
  if (url.hostname === "") throw new ConfigError("REDIS_URL", `must name a host, like redis://host:6379 (got "${redactUrl(text)}")`);
  return text;
}

export function createCacheFromEnv(env: Env, log: Logger): StockCache {
  const config = readCacheConfig(env);
  const onEvent = config.logEvents ? cacheEventLogger(log) : undefined;
  const events = onEvent ? { onEvent } : {};
  log.info("cache configured", {
    backend: config.backend,
    size: config.size,
    redis: config.redisUrl && redactUrl(config.redisUrl),
    cache_log: config.logEvents,
  });
  switch (config.backend) {
    case "off":
      return new NoCache();
    case "lru":
      return new LruCache({ capacity: config.size, ...events });
    case "redis":
      return new RedisCache({ url: config.redisUrl as string, capacity: config.size, log, ...events });
  }
}

/** CACHE_LOG=1: one line per cache event, with the cached names (LRU order) after each change. */
export function cacheEventLogger(log: Logger): CacheEventSink {
  return (event, keys) => {
    const { kind, ...fields } = event;
    log.info(`cache ${kind}`, { ...fields, keys: keys === undefined ? undefined : `[${keys.join(",")}]` });
  };
}
