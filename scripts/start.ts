// `npm start`: the whole system as local processes: the catalog, the order replicas of
// ORDER_REPLICAS (three by default) and the frontend, data in DATA_DIR (default ./data).
// Prints the URL; Ctrl-C (or SIGTERM) stops everything gracefully, frontend first.
// A service that dies is reported and left down, so failover can be watched by hand.

import * as path from "node:path";
import { CommandLine } from "../lib/cli.ts";
import {
  catalogAddrDefault,
  defaultDataDir,
  defaultOrderReplicas,
  envHostPort,
  envPort,
  envReplicas,
  formatHostPort,
  runMain,
} from "../lib/config.ts";
import { formatReadable, parseLogLine } from "../lib/log.ts";
import { frontendPortDefault } from "../frontend/config.ts";
import { projectRoot, startService } from "../lib/service_process.ts";
import type { RunningService } from "../lib/service_process.ts";

const usage = `usage: npm start
Starts the catalog, the order replicas of ORDER_REPLICAS and the frontend as local processes,
prints the URL, and stops them all on Ctrl-C (SIGINT) or SIGTERM, the frontend first.
It takes no arguments; these environment variables choose where things go:
  DATA_DIR        ${defaultDataDir.padEnd(22)} the catalog's and the replicas' files
  PORT            ${frontendPortDefault}                   the frontend's HTTP port
  CATALOG_ADDR    ${catalogAddrDefault}        the catalog's address (its port is used)
  ORDER_REPLICAS  ${defaultOrderReplicas}
                                         the replicas as id@host:port (their ports are used)
Every other variable (LOG_LEVEL, CACHE_SIZE, ...) reaches every service: see each one's --help,
e.g. npm run frontend -- --help. The services log JSON lines, shown readably on a terminal.`;

new CommandLine("start", usage).parse(process.argv.slice(2), {});

/** A service's log line as `npm start` prints it: readable on a terminal, as written otherwise. */
function shown(line: string): string {
  const record = process.stdout.isTTY ? parseLogLine(line) : undefined;
  return record === undefined ? line : formatReadable(record);
}

runMain("start", async () => {
  const env = process.env;
  const dataDir = path.resolve(projectRoot, env["DATA_DIR"] || defaultDataDir);
  const catalogAddr = envHostPort(env, "CATALOG_ADDR", catalogAddrDefault);
  const replicas = envReplicas(env, "ORDER_REPLICAS");
  const frontendPort = envPort(env, "PORT", frontendPortDefault);
  const orderReplicas = replicas.map((r) => `${r.id}@${formatHostPort(r.addr)}`).join(",");
  const common = { DATA_DIR: dataDir, CATALOG_ADDR: formatHostPort(catalogAddr), ORDER_REPLICAS: orderReplicas };
  const running: RunningService[] = [];
  let stopping = false;

  const launch = async (name: string, entry: string, extra: Record<string, string>): Promise<RunningService> => {
    const service = await startService({
      name,
      entry,
      env: { ...common, ...extra },
      onLine: (line) => process.stdout.write(`[${name}] ${shown(line)}\n`),
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
