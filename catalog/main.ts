// Entry point of one catalog process: read the configuration, start the service, log one
// line with the config and the bound port, stop gracefully on SIGTERM/SIGINT. No logic here.

import { runMain } from "../lib/config.ts";
import { Logger } from "../lib/log.ts";
import { onShutdown } from "../lib/shutdown.ts";
import { readCatalogConfig } from "./config.ts";
import { startCatalog } from "./service.ts";

runMain("catalog", async () => {
  const config = readCatalogConfig(process.env);
  const log = new Logger("catalog", {}, config.logLevel);
  const catalog = await startCatalog(config, log);
  log.info("listening", {
    host: config.host,
    port: catalog.port,
    data_dir: config.dataDir,
    log_level: config.logLevel,
    lookup_delay_ms: config.lookupDelayMs,
  });
  onShutdown(log, catalog.stop);
});
