// The order replica's configuration, read once from the environment at start. Every variable
// is validated here; a wrong one throws ConfigError naming it, which runMain turns into one
// line and exit code 2.

import type { EnvVariable } from "../lib/cli.ts";
import { envUsage } from "../lib/cli.ts";
import type { Env, HostPort, LogLevel, Replica } from "../lib/config.ts";
import {
  catalogAddrDefault,
  ConfigError,
  defaultDataDir,
  defaultOrderReplicas,
  envDataDir,
  envHost,
  envHostPort,
  envLogLevel,
  envOptionalPort,
  envPort,
  envReplicas,
  envRequired,
  hostDefault,
  logLevels,
  parseIntStrict,
} from "../lib/config.ts";
import { crashAfterCatalogBatchesVariable, readCrashAfterCatalogBatches } from "./test_hooks.ts";

export type OrderConfig = {
  readonly id: number;
  /** Every replica of ORDER_REPLICAS, highest id first, this one included. */
  readonly replicas: readonly Replica[];
  /** The other replicas. */
  readonly peers: readonly Replica[];
  readonly host: string;
  readonly port: number;
  readonly catalogAddr: HostPort;
  /** Absolute path of the folder holding orders-<id>.csv. */
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  /** METRICS_PORT: where Prometheus scrapes this replica; undefined (the default) = no metrics listener. */
  readonly metricsPort: number | undefined;
  /** Test-only fault injection (order/test_hooks.ts); 0 = off. */
  readonly crashAfterCatalogBatches: number;
};

function envOrderId(env: Env, replicas: readonly Replica[]): number {
  const text = envRequired(env, "ORDER_ID");
  const id = parseIntStrict(text);
  const ids = replicas.map((r) => r.id).sort((a, b) => a - b).join(", ");
  if (id === undefined || !replicas.some((r) => r.id === id)) {
    throw new ConfigError("ORDER_ID", `must be one of the ids in ORDER_REPLICAS (${ids}) (got "${text}")`);
  }
  return id;
}

/** What readOrderConfig reads, for --help (order/config.test.ts checks the list is complete). */
export const orderVariables: readonly EnvVariable[] = [
  { name: "ORDER_ID", fallback: "required", about: "this replica's id, one of the ids in ORDER_REPLICAS" },
  { name: "ORDER_REPLICAS", fallback: defaultOrderReplicas, about: "every replica as id@host:port, comma-separated" },
  { name: "HOST", fallback: hostDefault, about: "address to listen on (0.0.0.0 to be reachable from other machines)" },
  { name: "PORT", fallback: "own port", about: "gRPC port; default: this replica's port in ORDER_REPLICAS; 0 picks a free one" },
  { name: "CATALOG_ADDR", fallback: catalogAddrDefault, about: "the catalog as host:port" },
  { name: "DATA_DIR", fallback: defaultDataDir, about: "folder of orders-<id>.csv and vote-<id>.csv" },
  { name: "LOG_LEVEL", fallback: "info", about: logLevels.join(" | ") },
  { name: "METRICS_PORT", fallback: "off", about: "port of the Prometheus metrics listener" },
  { name: crashAfterCatalogBatchesVariable, fallback: "0", about: "TEST ONLY: SIGKILL itself after that many catalog batches" },
];

export const orderUsage = envUsage(
  "ORDER_ID=<id> npm run order   (or: ORDER_ID=<id> node --import tsx order/main.ts)",
  "One order replica: places orders through the leader, replicates the order log, elects leaders (gRPC).",
  orderVariables,
);

export function readOrderConfig(env: Env): OrderConfig {
  const replicas = envReplicas(env, "ORDER_REPLICAS");
  const id = envOrderId(env, replicas);
  const self = replicas.find((r) => r.id === id) as Replica;
  return {
    id,
    replicas,
    peers: replicas.filter((r) => r.id !== id),
    host: envHost(env),
    // The default is this replica's own port in ORDER_REPLICAS (50060 + id by default).
    port: envPort(env, "PORT", self.addr.port),
    catalogAddr: envHostPort(env, "CATALOG_ADDR", catalogAddrDefault),
    dataDir: envDataDir(env),
    logLevel: envLogLevel(env),
    metricsPort: envOptionalPort(env, "METRICS_PORT"),
    crashAfterCatalogBatches: readCrashAfterCatalogBatches(env),
  };
}
