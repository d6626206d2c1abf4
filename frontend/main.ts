// Frontend entry: read configuration, wire the catalog client, the cache, the leader selector,
// the metrics and the HTTP server together, select a leader, listen. No logic lives here.

import { serviceCommandLine } from "../lib/cli.ts";
import { formatHostPort, runMain } from "../lib/config.ts";
import { channelOptions, grpc } from "../lib/grpc.ts";
import { Logger } from "../lib/log.ts";
import { onShutdown } from "../lib/shutdown.ts";
import { CatalogClient } from "../gen/catalog.ts";
import { createApi } from "./api.ts";
import { loadFrontendConfig } from "./config.ts";
import { frontendUsage } from "./usage.ts";
import { createHealth } from "./health.ts";
import { createHttpServer } from "./http/server.ts";
import { LeaderSelector } from "./leader_selector.ts";
import { createFrontendMetrics } from "./metrics.ts";
import { OrderGateway } from "./order_gateway.ts";
import { createCacheFromEnv, createStockReader } from "./cache/stock_reader.ts";
import { lookupTimeoutMs } from "./limits.ts";

serviceCommandLine("frontend", frontendUsage, process.argv.slice(2));
runMain("frontend", async () => {
  const config = loadFrontendConfig(process.env);
  const log = new Logger("frontend");
  const cache = createCacheFromEnv(process.env, log);

  const catalog = new CatalogClient(formatHostPort(config.catalogAddr), grpc.credentials.createInsecure(), channelOptions);
  const stocks = createStockReader({ catalog, cache, log, lookupTimeoutMs });
  const leaders = new LeaderSelector(config.replicas, log);
  const orders = new OrderGateway(leaders, log);
  let connections = (): number => 0;
  const health = createHealth({ catalog, leaders, orders, cacheStats: () => stocks.stats(), connections: () => connections() });
  const metrics = createFrontendMetrics({ cacheStats: () => stocks.stats(), leaders, orders, connections: () => connections() });
  const api = createApi({ stocks, orders, health, metrics: () => metrics.respond(), observe: metrics.observe, log });
  const server = createHttpServer({ handler: api, log, limits: config.httpLimits });
  connections = () => server.connectionCount();

  stocks.start();
  await leaders.current().catch((err: unknown) => log.warn("no leader yet; will select on the first order", { error: String(err) }));
  const port = await server.listen(config.port, config.host);
  log.listening(`listening on http://${config.host}:${port}`, {
    port,
    catalog: formatHostPort(config.catalogAddr),
    replicas: config.replicas.map((r) => `${r.id}@${formatHostPort(r.addr)}`).join(","),
    leader: leaders.leaderId(),
    cache: cache.backend,
    cacheSize: cache.capacity,
  });

  onShutdown(log, async () => {
    await server.close();
    await stocks.close();
    leaders.close();
    catalog.close();
  });
});
