// Wiring of one catalog process: the store, the invalidation hub fed by its commits, and the
// gRPC server over both. `stop` is the graceful shutdown: stop accepting calls, end the
// invalidation streams, let in-flight trades finish, then checkpoint and close the journal.

import { CatalogService } from "../gen/catalog.ts";
import { ConfigError } from "../lib/config.ts";
import { bindServer, grpc, serverOptions, shutdownServer } from "../lib/grpc.ts";
import { StreamCallServer } from "../lib/stream_calls.ts";
import type { Logger } from "../lib/log.ts";
import type { CatalogConfig } from "./config.ts";
import { CorruptFileError } from "./errors.ts";
import { InvalidationHub } from "./invalidations.ts";
import { createCatalogServer } from "./server.ts";
import { Store } from "./store.ts";

export type RunningCatalog = {
  /** The bound port (the real one when PORT=0). */
  readonly port: number;
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

async function bind(server: grpc.Server, config: CatalogConfig): Promise<number> {
  try {
    return await bindServer(server, config.host, config.port);
  } catch (err) {
    throw new ConfigError(
      "PORT",
      `${config.port} cannot be bound on HOST ${config.host}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

export async function startCatalog(config: CatalogConfig, log: Logger): Promise<RunningCatalog> {
  const store = await openStore(config, log);
  const hub = new InvalidationHub(log);
  store.onCommit((invalidations) => hub.publish(invalidations));
  const server = new grpc.Server(serverOptions);
  const streams = new StreamCallServer();
  server.addService(CatalogService, createCatalogServer(store, hub, { lookupDelayMs: config.lookupDelayMs, streams }));
  let port: number;
  try {
    port = await bind(server, config);
  } catch (err) {
    await store.close();
    throw err;
  }
  const stop = async (): Promise<void> => {
    const drained = shutdownServer(server);
    hub.closeAll();
    streams.closeAll();
    await drained;
    await store.close();
  };
  return { port, store, stop };
}
