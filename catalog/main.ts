// Entry point of one catalog process: read the configuration, start the service, log one
// line with the config and the bound port, stop gracefully on SIGTERM/SIGINT. A DATA_DIR that
// cannot be loaded (corrupt, or from an older version) ends the process with exit code 1 after
// the one line catalog_process.ts logs, without a stack trace: it is an operating error, not a bug.
// No logic here.

import { serviceCommandLine } from "../lib/cli.ts";
import { runMain } from "../lib/config.ts";
import { Logger } from "../lib/log.ts";
import { onShutdown } from "../lib/shutdown.ts";
import { catalogUsage, readCatalogConfig } from "./config.ts";
import { CorruptFileError } from "./errors.ts";
import type { RunningCatalog } from "./catalog_process.ts";
import { startCatalog } from "./catalog_process.ts";

serviceCommandLine("catalog", catalogUsage, process.argv.slice(2));
runMain("catalog", async () => {
  const config = readCatalogConfig(process.env);
  const log = new Logger("catalog", {}, config.logLevel);
  let catalog: RunningCatalog;
  try {
    catalog = await startCatalog(config, log);
  } catch (err) {
    if (err instanceof CorruptFileError) process.exit(1);
    throw err;
  }
  log.listening("listening", {
    host: config.host,
    port: catalog.port,
    metrics_port: catalog.metricsPort,
    data_dir: config.dataDir,
    log_level: config.logLevel,
    lookup_delay_ms: config.lookupDelayMs,
  });
  onShutdown(log, catalog.stop);
});
