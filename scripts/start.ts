// `npm start`: the whole system as local processes: the catalog, the order replicas of
// ORDER_REPLICAS (three by default) and the frontend, data in DATA_DIR (default ./data).
// Prints the URL; Ctrl-C (or SIGTERM) stops everything gracefully, frontend first.
// A service that dies is reported and left down, so failover can be watched by hand.

import * as path from "node:path";
import { envHostPort, envPort, envReplicas, formatHostPort, runMain } from "../lib/config.ts";
import { projectRoot, startService } from "../lib/service_process.ts";
import type { RunningService } from "../lib/service_process.ts";

runMain("start", async () => {
  const env = process.env;
  const dataDir = path.resolve(projectRoot, env["DATA_DIR"] || "data");
  const catalogAddr = envHostPort(env, "CATALOG_ADDR", "127.0.0.1:50051");
  const replicas = envReplicas(env, "ORDER_REPLICAS");
  const frontendPort = envPort(env, "PORT", 8080);
  const orderReplicas = replicas.map((r) => `${r.id}@${formatHostPort(r.addr)}`).join(",");
  const common = { DATA_DIR: dataDir, CATALOG_ADDR: formatHostPort(catalogAddr), ORDER_REPLICAS: orderReplicas };
  const running: RunningService[] = [];
  let stopping = false;

  const launch = async (name: string, entry: string, extra: Record<string, string>): Promise<RunningService> => {
    const service = await startService({
      name,
      entry,
      env: { ...common, ...extra },
      onLine: (line) => process.stdout.write(`[${name}] ${line}\n`),
    });
    running.push(service);
    process.stdout.write(`[start] ${name} up: pid=${service.pid} port=${service.port}\n`);
    void service.exited.then((code) => {
      if (!stopping) process.stdout.write(`[start] ${name} (pid ${service.pid}) exited with ${code}; the others keep running\n`);
    });
    return service;
  };

  const stopAll = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("[start] stopping all services\n");
    // Frontend first so no new work arrives, then the replicas, the catalog last.
    for (const service of [...running].reverse()) await service.stop();
    process.exit(exitCode);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  try {
    await launch("catalog", "catalog/main.ts", { PORT: String(catalogAddr.port) });
    await Promise.all(replicas.map((r) => launch(`order-${r.id}`, "order/main.ts", { ORDER_ID: String(r.id), PORT: String(r.addr.port) })));
    await launch("frontend", "frontend/main.ts", { PORT: String(frontendPort) });
  } catch (err) {
    process.stderr.write(`[start] ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll(1);
  }
  process.stdout.write(
    `\nStock Bazaar is running at http://127.0.0.1:${frontendPort}  (data in ${dataDir}; Ctrl-C stops)\n` +
      `  try: curl http://127.0.0.1:${frontendPort}/stocks/GameStart\n\n`,
  );
});
