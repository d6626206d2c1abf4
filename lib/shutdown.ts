// Graceful shutdown on SIGTERM and SIGINT: run the service's stop function once (stop
// accepting, finish in-flight work, flush), then exit 0. A second signal exits at once.

import type { Logger } from "./log.ts";

export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string): void => {
    if (stopping) {
      log.warn("second signal, exiting now", { signal });
      process.exit(1);
    }
    stopping = true;
    log.info("shutting down", { signal });
    stop().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error("shutdown failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}
