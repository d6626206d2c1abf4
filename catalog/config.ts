// The catalog's configuration, read once from the environment at start. Every variable is
// validated here; a wrong one throws ConfigError naming it, which runMain turns into one line
// and exit code 2.

import type { EnvVariable } from "../lib/cli.ts";
import { envUsage } from "../lib/cli.ts";
import type { Env, LogLevel } from "../lib/config.ts";
import {
  defaultDataDir,
  envDataDir,
  envHost,
  envInt,
  envLogLevel,
  envOptionalPort,
  envPort,
  hostDefault,
  logLevels,
} from "../lib/config.ts";
import { lookupDelayMsMax } from "./limits.ts";

export const defaultPort = 50051;
export { defaultDataDir } from "../lib/config.ts";

export type CatalogConfig = {
  readonly host: string;
  readonly port: number;
  /** Absolute path of the folder holding catalog.csv and catalog-journal.csv. */
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  /** METRICS_PORT: where Prometheus scrapes this process; undefined (the default) = no metrics listener. */
  readonly metricsPort: number | undefined;
  /** TEST ONLY: delay of each Lookup reply after the state was read (see server.ts). */
  readonly lookupDelayMs: number;
};

/** What readCatalogConfig reads, for --help (catalog/config.test.ts checks the list is complete). */
export const catalogVariables: readonly EnvVariable[] = [
  { name: "HOST", fallback: hostDefault, about: "address to listen on (0.0.0.0 to be reachable from other machines)" },
  { name: "PORT", fallback: String(defaultPort), about: "gRPC port; 0 picks a free one" },
  { name: "DATA_DIR", fallback: defaultDataDir, about: "folder of catalog.csv and catalog-journal.csv" },
  { name: "LOG_LEVEL", fallback: "info", about: logLevels.join(" | ") },
  { name: "METRICS_PORT", fallback: "off", about: "port of the Prometheus metrics listener" },
  { name: "CATALOG_LOOKUP_DELAY_MS", fallback: "0", about: `TEST ONLY: delay of each Lookup reply, up to ${lookupDelayMsMax}` },
];

export const catalogUsage = envUsage(
  "npm run catalog   (or: node --import tsx catalog/main.ts)",
  "The catalog service: stock prices and quantities, trade numbering, invalidations (gRPC).",
  catalogVariables,
);

export function readCatalogConfig(env: Env): CatalogConfig {
  return {
    host: envHost(env),
    port: envPort(env, "PORT", defaultPort),
    dataDir: envDataDir(env),
    logLevel: envLogLevel(env),
    metricsPort: envOptionalPort(env, "METRICS_PORT"),
    lookupDelayMs: envInt(env, "CATALOG_LOOKUP_DELAY_MS", 0, 0, lookupDelayMsMax),
  };
}
