// Wiring of one catalog process: the store, the invalidation hub fed by its commits, the gRPC
// server over both with grpc.health.v1 beside them, and the metrics listener when METRICS_PORT
// is set. `stop` is the graceful shutdown: report NOT_SERVING, stop accepting calls, end the
// invalidation streams, let in-flight trades finish, then checkpoint and close the journal.

import { CatalogClient, CatalogService } from "../gen/catalog.ts";
import { bindFor } from "../lib/config.ts";
import { bindServer, grpc, serverOptions, shutdownServer } from "../lib/grpc.ts";
import { addHealthService, GrpcHealth } from "../lib/grpc_health.ts";
import { createRegistry, observeFsyncs, serveMetrics } from "../lib/metrics.ts";
import type { MetricsServer } from "../lib/metrics.ts";
import { StreamCallServer } from "../lib/stream_calls.ts";
import type { Logger } from "../lib/log.ts";
import type { CatalogConfig } from "./config.ts";
import { CorruptFileError } from "./errors.ts";
import { InvalidationHub } from "./invalidations.ts";
import { registerCatalogMetrics } from "./metrics.ts";
import { createCatalogServer } from "./server.ts";
import { Store } from "./store.ts";

export type RunningCatalog = {
  /** The bound port (the real one when PORT=0). */
  readonly port: number;
  /** The bound metrics port, when METRICS_PORT is set. */
  readonly metricsPort: number | undefined;
  readonly store: Store;
  stop(): Promise<void>;
};

async function openStore(config: CatalogConfig, log: Logger): Promise<Store> {
  try {
    return await Store.open({ dir: config.dataDir, log });
  } catch (err) {
    if (err instanceof CorruptFileError) {
      log.error(`refusing to start: ${err.message}`, { data_dir: config.dataDir });
    }
    throw err;
  }
}

/** The store is ready while it has not failed (its health rejects once a write failed). */
function catalogHealth(store: Store): GrpcHealth {
  return new GrpcHealth({ services: [CatalogClient.serviceName], ready: () => store.health().then(() => true) });
}

export async function startCatalog(config: CatalogConfig, log: Logger): Promise<RunningCatalog> {
  // Before the store opens, so the fsyncs of loading are measured too.
  const registry = config.metricsPort === undefined ? undefined : createRegistry();
  if (registry) observeFsyncs(registry);
  const store = await openStore(config, log);
  const hub = new InvalidationHub(log);
  store.onCommit((invalidations) => hub.publish(invalidations));
  const server = new grpc.Server(serverOptions);
  const streams = new StreamCallServer();
  const health = catalogHealth(store);
  server.addService(CatalogService, createCatalogServer(store, hub, { lookupDelayMs: config.lookupDelayMs, streams }));
  addHealthService(server, health);
  let port: number;
  let metrics: MetricsServer | undefined;
  try {
    port = await bindFor("PORT", config.port, config.host, () => bindServer(server, config.host, config.port));
    if (registry && config.metricsPort !== undefined) {
      registerCatalogMetrics(registry, store, hub);
      const metricsPort = config.metricsPort;
      metrics = await bindFor("METRICS_PORT", metricsPort, config.host, () => serveMetrics(registry, config.host, metricsPort, log));
    }
  } catch (err) {
    server.forceShutdown();
    await store.close();
    throw err;
  }
  const stop = async (): Promise<void> => {
    health.shutdown();
    const drained = shutdownServer(server);
    hub.closeAll();
    streams.closeAll();
    await drained;
    await store.close();
    await metrics?.close();
  };
  return { port, metricsPort: metrics?.port, store, stop };
}
