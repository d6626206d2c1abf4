// A whole Stock Bazaar on free 127.0.0.1 ports for multi-process tests: the real catalog,
// replicas and frontend processes (real gRPC, real files), each tracked by PID and stopped
// by `stop()` even when a test fails.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startService } from "../../lib/service_process.ts";
import type { RunningService, Runtime } from "../../lib/service_process.ts";
import { freePort } from "../../lib/service_process.ts";
export { freePort };


export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sb-${prefix}-`));
}

export type ClusterOptions = {
  readonly replicaIds?: readonly number[];
  readonly frontendEnv?: Record<string, string>;
  readonly catalogEnv?: Record<string, string>;
  /** Extra environment of a replica's first start only (restarts run without it). */
  readonly replicaEnv?: Readonly<Record<number, Record<string, string>>>;
  readonly runtime?: Runtime;
  readonly dataDir?: string;
  /** Skip starting the frontend (tests of the back end alone). */
  readonly noFrontend?: boolean;
};

export class Cluster {
  readonly dataDir: string;
  readonly catalogPort: number;
  readonly replicaPorts: Map<number, number>;
  readonly frontendPort: number;
  readonly options: ClusterOptions;
  catalog: RunningService | undefined;
  readonly replicas = new Map<number, RunningService>();
  frontend: RunningService | undefined;
  /** Every process ever started, so stop() reaps restarted ones too. */
  private readonly all: RunningService[] = [];

  private constructor(options: ClusterOptions, dataDir: string, catalogPort: number, replicaPorts: Map<number, number>, frontendPort: number) {
    this.options = options;
    this.dataDir = dataDir;
    this.catalogPort = catalogPort;
    this.replicaPorts = replicaPorts;
    this.frontendPort = frontendPort;
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const ids = options.replicaIds ?? [1, 2, 3];
    const replicaPorts = new Map<number, number>();
    for (const id of ids) replicaPorts.set(id, await freePort());
    const cluster = new Cluster(options, options.dataDir ?? tempDir("cluster"), await freePort(), replicaPorts, await freePort());
    try {
      await cluster.startCatalog();
      // Settled, not Promise.all: a replica still starting when another fails must be started
      // (and so tracked) before stop(), or it would outlive the test and keep it running.
      const replicas = await Promise.allSettled(ids.map((id) => cluster.startReplica(id, options.replicaEnv?.[id])));
      for (const r of replicas) if (r.status === "rejected") throw r.reason;
      if (!options.noFrontend) await cluster.startFrontend();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get orderReplicas(): string {
    return [...this.replicaPorts].map(([id, port]) => `${id}@127.0.0.1:${port}`).join(",");
  }

  get url(): string {
    return `http://127.0.0.1:${this.frontendPort}`;
  }

  private async launch(name: string, entry: string, env: Record<string, string>): Promise<RunningService> {
    const service = await startService({
      name, entry, runtime: this.options.runtime ?? "node",
      // REDIS_URL from the test's own environment is not inherited: clusters of tests running at
      // once would share one Redis. A test that wants Redis passes it.
      env: { DATA_DIR: this.dataDir, CATALOG_ADDR: `127.0.0.1:${this.catalogPort}`, ORDER_REPLICAS: this.orderReplicas, LOG_LEVEL: "warn", REDIS_URL: "", ...env },
      ...(process.env["TEST_SERVICE_LOGS"] ? { onLine: (line: string) => process.stderr.write(`[${name}] ${line}\n`) } : {}),
    });
    this.all.push(service);
    return service;
  }

  async startCatalog(): Promise<RunningService> {
    this.catalog = await this.launch("catalog", "catalog/main.ts", { PORT: String(this.catalogPort), LOG_LEVEL: "info", ...this.options.catalogEnv });
    return this.catalog;
  }

  async startReplica(id: number, env: Record<string, string> = {}): Promise<RunningService> {
    const service = await this.launch(`order-${id}`, "order/main.ts", { ORDER_ID: String(id), PORT: String(this.replicaPorts.get(id)), LOG_LEVEL: "info", ...env });
    this.replicas.set(id, service);
    return service;
  }

  async startFrontend(): Promise<RunningService> {
    this.frontend = await this.launch("frontend", "frontend/main.ts", { PORT: String(this.frontendPort), LOG_LEVEL: "info", ...this.options.frontendEnv });
    return this.frontend;
  }

  /** SIGKILL a service and wait until it is gone. */
  async kill(service: RunningService | undefined): Promise<void> {
    if (!service) return;
    service.kill("SIGKILL");
    await service.exited;
  }

  orderFile(id: number): string {
    return path.join(this.dataDir, `orders-${id}.csv`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map(async (s) => {
      s.kill("SIGKILL");
      await s.exited;
    }));
  }

  /** Output of every process, for a failure message. */
  logs(): string {
    return this.all.map((s) => `---- ${s.name} (pid ${s.pid})\n${s.output()}`).join("\n");
  }
}
