// The frontend's --help: every environment variable it reads (config.ts, cache/cache_config.ts,
// the logger) with its default. Apart from config.ts because it names the cache's settings, and
// the health probe, which bundles config.ts, should not load the cache backends.

import type { EnvVariable } from "../lib/cli.ts";
import { envUsage } from "../lib/cli.ts";
import { catalogAddrDefault, defaultOrderReplicas, hostDefault, logLevels } from "../lib/config.ts";
import { cacheSizeMax } from "./cache/cache.ts";
import { cacheSizeDefault } from "./cache/cache_config.ts";
import { frontendPortDefault, httpLimitVariable } from "./config.ts";
import { defaultLimits } from "./http/limits.ts";
import type { HttpLimits } from "./http/limits.ts";

/** Every variable the frontend reads; frontend/config.test.ts checks the list is complete. */
export const frontendVariables: readonly EnvVariable[] = [
  { name: "HOST", fallback: hostDefault, about: "address to listen on (0.0.0.0 to be reachable from other machines)" },
  { name: "PORT", fallback: String(frontendPortDefault), about: "HTTP port; 0 picks a free one" },
  { name: "CATALOG_ADDR", fallback: catalogAddrDefault, about: "the catalog as host:port" },
  { name: "ORDER_REPLICAS", fallback: defaultOrderReplicas, about: "every order replica as id@host:port, comma-separated" },
  { name: "LOG_LEVEL", fallback: "info", about: logLevels.join(" | ") },
  { name: "CACHE", fallback: "on", about: "on | off: the stock cache" },
  { name: "CACHE_SIZE", fallback: String(cacheSizeDefault), about: `stocks the cache holds, 0 to ${cacheSizeMax} (0 = off)` },
  { name: "REDIS_URL", fallback: "none", about: "redis://host:port: share the cache in Redis instead of this process" },
  { name: "CACHE_LOG", fallback: "0", about: "1: one log line per cache event" },
  ...(Object.keys(defaultLimits) as (keyof HttpLimits)[]).map((name) => ({
    name: httpLimitVariable(name),
    fallback: String(defaultLimits[name]),
    about: `HTTP server limit ${name}`,
  })),
];

export const frontendUsage = envUsage(
  "npm run frontend   (or: node --import tsx frontend/main.ts)",
  "The HTTP/1.1 frontend: the REST API of docs/api.md, in front of the catalog and the order replicas.",
  frontendVariables,
);
