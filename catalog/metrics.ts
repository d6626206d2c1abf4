// The catalog's Prometheus metrics (served on METRICS_PORT): every value is read from the store
// and the invalidation hub when scraped, so trades pay nothing for them. The fsync histogram
// and the runtime's metrics come from lib/metrics.ts. README "Operating: metrics and health".

import { counterFrom, flag, gaugeFrom } from "../lib/metrics.ts";
import type { Registry } from "../lib/metrics.ts";
import type { InvalidationHub } from "./invalidations.ts";
import type { Store, StoreHealth } from "./store.ts";

export function registerCatalogMetrics(registry: Registry, store: Store, hub: InvalidationHub): void {
  // A few cheap reads under the read lock per scrape; undefined once storage failed.
  const health = (): Promise<StoreHealth | undefined> => store.health().catch(() => undefined);
  gaugeFrom(registry, {
    name: "catalog_storage_failed",
    help: "1 once a journal, epoch or checkpoint write failed: trades are refused until a restart.",
  }, async () => flag((await health()) === undefined));
  counterFrom(registry, {
    name: "catalog_trades_applied_total",
    help: "Trades applied, across restarts (the sum of every stock's version).",
  }, async () => (await health())?.tradesApplied);
  gaugeFrom(
    registry,
    { name: "catalog_last_number", help: "The last transaction number given (-1: none)." },
    async () => (await health())?.lastNumber,
  );
  gaugeFrom(
    registry,
    { name: "catalog_epoch", help: "The newest order-leader epoch the catalog has seen (durable)." },
    async () => (await health())?.epoch,
  );
  gaugeFrom(registry, { name: "catalog_stocks", help: "Stocks in the table." }, async () => (await health())?.stocks);
  counterFrom(registry, {
    name: "catalog_commits_total",
    help: "Group commits that appended journal rows since start; trades ÷ commits is the group size.",
  }, () => store.commits);
  counterFrom(registry, {
    name: "catalog_journal_fsyncs_total",
    help: "Journal fdatasync calls since start (one per group commit).",
  }, () => store.journalFlushes);
  counterFrom(
    registry,
    { name: "catalog_checkpoints_total", help: "Checkpoints (catalog.csv rewritten, journal compacted) since start." },
    () => store.checkpoints,
  );
  gaugeFrom(
    registry,
    { name: "catalog_invalidation_subscribers", help: "Frontends subscribed to the Invalidations stream." },
    () => hub.size,
  );
}
