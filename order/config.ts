// The order replica's configuration, read once from the environment at start. Every variable
// is validated here; a wrong one throws ConfigError naming it, which runMain turns into one
// line and exit code 2.

import type { Env, HostPort, Replica } from "../lib/config.ts";
import { ConfigError, envDataDir, envHost, envHostPort, envPort, envReplicas, envRequired, parseIntStrict } from "../lib/config.ts";
import type { LogLevel } from "../lib/log.ts";
import { envLogLevel } from "../lib/log.ts";
import { readCrashAfterCatalogBatches } from "./test_hooks.ts";

export const defaultCatalogAddr = "127.0.0.1:50051";
export { defaultDataDir } from "../lib/config.ts";

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
  /** Test-only fault injection (order/test_hooks.ts); 0 = off. */
  readonly crashAfterCatalogBatches: number;
  /** METRICS_PORT: the Prometheus listener (GET /metrics, lib/metrics.ts); absent = off. */
  readonly metricsPort?: number;
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
    catalogAddr: envHostPort(env, "CATALOG_ADDR", defaultCatalogAddr),
    dataDir: envDataDir(env),
    logLevel: envLogLevel(env),
    crashAfterCatalogBatches: readCrashAfterCatalogBatches(env),
    ...((env["METRICS_PORT"] ?? "").trim() === "" ? {} : { metricsPort: envPort(env, "METRICS_PORT", 0) }),
  };
}
