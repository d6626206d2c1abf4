// The catalog's configuration, read once from the environment at start. Every variable is
// validated here; a wrong one throws ConfigError naming it, which runMain turns into one line
// and exit code 2.

import * as fs from "node:fs";
import * as path from "node:path";
import type { Env } from "../lib/config.ts";
import { ConfigError, envHost, envInt, envPort, envString } from "../lib/config.ts";
import type { LogLevel } from "../lib/log.ts";
import { lookupDelayMsMax } from "./limits.ts";

export const defaultPort = 50051;
export const defaultDataDir = "./data";

export type CatalogConfig = {
  readonly host: string;
  readonly port: number;
  /** Absolute path of the folder holding catalog.csv and catalog-journal.csv. */
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  /** TEST ONLY: delay of each Lookup reply after the state was read (see server.ts). */
  readonly lookupDelayMs: number;
};

// `satisfies` makes the compiler fail here if lib/log.ts gains or loses a level.
const logLevels = { debug: true, info: true, warn: true, error: true, silent: true } satisfies Record<LogLevel, true>;

function envLogLevel(env: Env): LogLevel {
  const text = envString(env, "LOG_LEVEL", "info");
  if (!Object.hasOwn(logLevels, text)) {
    throw new ConfigError("LOG_LEVEL", `must be one of ${Object.keys(logLevels).join(", ")} (got "${text}")`);
  }
  return text as LogLevel;
}

function envDataDir(env: Env): string {
  const dir = path.resolve(envString(env, "DATA_DIR", defaultDataDir));
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new ConfigError("DATA_DIR", `must be a directory (got "${dir}", which is not)`);
  }
  return dir;
}

export function readCatalogConfig(env: Env): CatalogConfig {
  return {
    host: envHost(env),
    port: envPort(env, "PORT", defaultPort),
    dataDir: envDataDir(env),
    logLevel: envLogLevel(env),
    lookupDelayMs: envInt(env, "CATALOG_LOOKUP_DELAY_MS", 0, 0, lookupDelayMsMax),
  };
}
