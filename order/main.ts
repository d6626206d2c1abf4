// Entry point of one order replica: read the configuration, load the order log and the vote,
// serve gRPC (with grpc.health.v1) and, with METRICS_PORT, Prometheus metrics, start the
// protocol's clock, stop gracefully on SIGTERM/SIGINT. Wiring only; no logic here.

import { serviceCommandLine } from "../lib/cli.ts";
import { bindFor, formatHostPort, runMain } from "../lib/config.ts";
import { bindServer, grpc, serverOptions, shutdownServer } from "../lib/grpc.ts";
import { addHealthService } from "../lib/grpc_health.ts";
import { createRegistry, observeFsyncs, serveMetrics } from "../lib/metrics.ts";
import type { MetricsServer } from "../lib/metrics.ts";
import { Logger } from "../lib/log.ts";
import { onShutdown } from "../lib/shutdown.ts";
import { StreamCallServer } from "../lib/stream_calls.ts";
import { OrderService } from "../gen/order.ts";
import { grpcCatalog, grpcPeer } from "./clients.ts";
import { orderUsage, readOrderConfig } from "./config.ts";
import { OrderLog, orderLogFile } from "./order_log.ts";
import { FollowerMatches, registerOrderMetrics } from "./metrics.ts";
import { CatchUp, orderService, replicaHealth } from "./server.ts";
import { ReplicaShell } from "./shell.ts";
import { crashAfterCatalogBatches } from "./test_hooks.ts";
import { readVote, voteFile, writeVote } from "./vote_file.ts";

serviceCommandLine("order", orderUsage, process.argv.slice(2));
runMain("order", async () => {
  const config = readOrderConfig(process.env);
  const logger = new Logger("order", { replica: config.id }, config.logLevel);
  // Before the log opens, so the fsyncs of loading are measured too.
  const registry = config.metricsPort === undefined ? undefined : createRegistry();
  if (registry) observeFsyncs(registry);
  const log = await OrderLog.open(orderLogFile(config.dataDir, config.id));
  if (log.droppedTailBytes > 0) logger.warn("dropped a torn last line of the order log", { bytes: log.droppedTailBytes });
  const votePath = voteFile(config.dataDir, config.id);
  const followers = new FollowerMatches();
  const vote = await readVote(votePath);
  const shell = new ReplicaShell({
    id: config.id,
    ids: config.replicas.map((r) => r.id),
    log,
    vote,
    logger,
    writeVote: (v) => writeVote(votePath, v),
    catalog: crashAfterCatalogBatches(grpcCatalog(config.catalogAddr), config.crashAfterCatalogBatches),
    peers: config.peers.map((peer) => followers.watch(grpcPeer(peer))),
  });
  const server = new grpc.Server(serverOptions);
  const streams = new StreamCallServer();
  const catchUp = new CatchUp();
  const health = replicaHealth(shell, catchUp);
  server.addService(OrderService, orderService(shell, logger, streams, catchUp));
  addHealthService(server, health);
  let metrics: MetricsServer | undefined;
  // Before the listening line: whoever waits for it may signal us at once.
  onShutdown(logger, async () => {
    health.shutdown();
    const drained = shutdownServer(server);
    streams.closeAll();
    await drained;
    await shell.stop();
    await metrics?.close();
  });
  const port = await bindServer(server, config.host, config.port);
  if (registry && config.metricsPort !== undefined) {
    registerOrderMetrics(registry, { shell, log, catchUp, followers, peerIds: config.peers.map((p) => p.id) });
    const metricsPort = config.metricsPort;
    metrics = await bindFor("METRICS_PORT", metricsPort, config.host, () => serveMetrics(registry, config.host, metricsPort, logger));
  }
  shell.start();
  // Tests and scripts wait for this line (lib/log.ts listeningPort).
  logger.listening("listening", {
    port,
    host: config.host,
    metrics_port: metrics?.port,
    data_dir: config.dataDir,
    catalog: formatHostPort(config.catalogAddr),
    replicas: config.replicas.map((r) => `${r.id}@${formatHostPort(r.addr)}`).join(","),
    last: log.loaded.length - 1,
    epoch: vote.epoch,
    voted_for: vote.votedFor,
    log_level: config.logLevel,
  });
});
