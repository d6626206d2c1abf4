// Test-only fault injection, off unless its variable is set. ORDER_TEST_CRASH_AFTER_CATALOG_BATCHES=n
// makes this replica SIGKILL itself right after the catalog answered its n-th TradeBatch: the
// trades are applied in the catalog but not yet numbered, replicated or answered. The fault
// tests use it to show that a retry through the next leader applies such a trade exactly once.

import { envInt } from "../lib/config.ts";
import type { Env } from "../lib/config.ts";
import type { CatalogPort } from "./clients.ts";

export const crashAfterCatalogBatchesVariable = "ORDER_TEST_CRASH_AFTER_CATALOG_BATCHES";
/** Bound on the setting, only to catch typos. */
const crashAfterCatalogBatchesMax = 1_000_000_000;

export function readCrashAfterCatalogBatches(env: Env): number {
  return envInt(env, crashAfterCatalogBatchesVariable, 0, 0, crashAfterCatalogBatchesMax);
}

export function crashAfterCatalogBatches(catalog: CatalogPort, n: number): CatalogPort {
  if (n === 0) return catalog;
  let answered = 0;
  return {
    tradeBatch: async (request, timeoutMs) => {
      const reply = await catalog.tradeBatch(request, timeoutMs);
      if (request.trades.length > 0 && ++answered >= n) process.kill(process.pid, "SIGKILL");
      return reply;
    },
    close: () => catalog.close(),
  };
}
