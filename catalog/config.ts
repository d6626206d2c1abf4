// The catalog's configuration, read once from the environment at start. Every variable is
// validated here; a wrong one throws ConfigError naming it, which runMain turns into one line
// and exit code 2.

import type { Env } from "../lib/config.ts";
import { envDataDir, envHost, envInt, envPort } from "../lib/config.ts";
import type { LogLevel } from "../lib/log.ts";
import { envLogLevel } from "../lib/log.ts";
import { lookupDelayMsMax } from "./limits.ts";

export const defaultPort = 50051;
export { defaultDataDir } from "../lib/config.ts";

export type CatalogConfig = {
  readonly host: string;
  readonly port: number;
  /** Absolute path of the folder holding catalog.csv and catalog-journal.csv. */
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  /** TEST ONLY: delay of each Lookup reply after the state was read (see server.ts). */
  readonly lookupDelayMs: number;
  /** METRICS_PORT: the Prometheus listener (GET /metrics, lib/metrics.ts); absent = off. */
  readonly metricsPort?: number;
};

export function readCatalogConfig(env: Env): CatalogConfig {
  return {
    host: envHost(env),
    port: envPort(env, "PORT", defaultPort),
    dataDir: envDataDir(env),
    logLevel: envLogLevel(env),
    lookupDelayMs: envInt(env, "CATALOG_LOOKUP_DELAY_MS", 0, 0, lookupDelayMsMax),
    ...((env["METRICS_PORT"] ?? "").trim() === "" ? {} : { metricsPort: envPort(env, "METRICS_PORT", 0) }),
  };
}
