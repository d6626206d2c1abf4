// A whole Stock Bazaar on free 127.0.0.1 ports for multi-process tests, benchmarks and the chaos
// command: the real catalog, replicas and frontend processes (real gRPC, real files), started
// through processes.ts (tracked by PID there), with gRPC calls into them (grpc_calls.ts), and
// stopped by `stop()` even when a test fails.

import * as path from "node:path";
import { freePort } from "../../lib/service_process.ts";
import type { RunningService, Runtime } from "../../lib/service_process.ts";
import { GrpcCalls } from "./grpc_calls.ts";
import { killAndWait, startTracked, tempDir } from "./processes.ts";

export type LocalSystemOptions = {
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

export class LocalSystem {
  readonly dataDir: string;
  readonly catalogPort: number;
  readonly replicaPorts: Map<number, number>;
  readonly frontendPort: number;
  readonly options: LocalSystemOptions;
  /** Clients of the catalog and the replicas, made on first use, closed by stop(). */
  readonly grpc: GrpcCalls;
  catalog: RunningService | undefined;
  readonly replicas = new Map<number, RunningService>();
  frontend: RunningService | undefined;
  /** Every process ever started, so stop() reaps restarted ones too. */
  private readonly all: RunningService[] = [];

  private constructor(
    options: LocalSystemOptions,
    dataDir: string,
    catalogPort: number,
    replicaPorts: Map<number, number>,
    frontendPort: number,
  ) {
    this.options = options;
    this.dataDir = dataDir;
    this.catalogPort = catalogPort;
    this.replicaPorts = replicaPorts;
    this.frontendPort = frontendPort;
    this.grpc = new GrpcCalls(() => catalogPort, replicaPorts);
  }

  static async start(options: LocalSystemOptions = {}): Promise<LocalSystem> {
    const ids = options.replicaIds ?? [1, 2, 3];
    const replicaPorts = new Map<number, number>();
    for (const id of ids) replicaPorts.set(id, await freePort());
    const cluster = new LocalSystem(options, options.dataDir ?? tempDir("cluster"), await freePort(), replicaPorts, await freePort());
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

  get replicaIds(): number[] {
    return [...this.replicaPorts.keys()];
  }

  get orderReplicas(): string {
    return [...this.replicaPorts].map(([id, port]) => `${id}@127.0.0.1:${port}`).join(",");
  }

  get url(): string {
    return `http://127.0.0.1:${this.frontendPort}`;
  }

  /**
   * Any service of this system, told where the catalog and the replicas are; stopped by stop().
   * `onLine` receives its output lines.
   */
  async startService(name: string, entry: string, env: Record<string, string>, onLine?: (line: string) => void): Promise<RunningService> {
    const service = await startTracked({
      name,
      entry,
      runtime: this.options.runtime ?? "node",
      // REDIS_URL from the test's own environment is not inherited: clusters of tests running at
      // once would share one Redis. A test that wants Redis passes it.
      env: {
        DATA_DIR: this.dataDir,
        CATALOG_ADDR: `127.0.0.1:${this.catalogPort}`,
        ORDER_REPLICAS: this.orderReplicas,
        LOG_LEVEL: "warn",
        REDIS_URL: "",
        ...env,
      },
      ...(onLine ? { onLine } : {}),
    });
    this.all.push(service);
    return service;
  }

  async startCatalog(): Promise<RunningService> {
    this.catalog = await this.startService("catalog", "catalog/main.ts", {
      PORT: String(this.catalogPort),
      LOG_LEVEL: "info",
      ...this.options.catalogEnv,
    });
    return this.catalog;
  }

  async startReplica(id: number, env: Record<string, string> = {}): Promise<RunningService> {
    const service = await this.startService(`order-${id}`, "order/main.ts", {
      ORDER_ID: String(id),
      PORT: String(this.replicaPorts.get(id)),
      LOG_LEVEL: "info",
      ...env,
    });
    this.replicas.set(id, service);
    return service;
  }

  async startFrontend(): Promise<RunningService> {
    this.frontend = await this.startService("frontend", "frontend/main.ts", {
      PORT: String(this.frontendPort),
      LOG_LEVEL: "info",
      ...this.options.frontendEnv,
    });
    return this.frontend;
  }

  /** Another frontend in front of this system (PORT=0 unless `env` gives one); stopped by stop(). */
  startExtraFrontend(name: string, env: Record<string, string> = {}, onLine?: (line: string) => void): Promise<RunningService> {
    return this.startService(name, "frontend/main.ts", { PORT: "0", LOG_LEVEL: "info", ...env }, onLine);
  }

  /** SIGKILL a service and wait until it is gone. */
  async kill(service: RunningService | undefined): Promise<void> {
    if (service) await killAndWait(service);
  }

  /** SIGKILL replica `id` and wait until it is gone. */
  async killReplica(id: number): Promise<void> {
    await this.kill(this.replicas.get(id));
    this.replicas.delete(id);
  }

  orderFile(id: number): string {
    return path.join(this.dataDir, `orders-${id}.csv`);
  }

  /** PIDs of the running catalog and replicas by name (catalog, order-<id>). */
  pids(): Array<[string, number]> {
    const all: Array<[string, number]> = this.catalog ? [["catalog", this.catalog.pid]] : [];
    return [...all, ...[...this.replicas].map(([id, s]): [string, number] => [`order-${id}`, s.pid])];
  }

  /** Graceful stop (SIGTERM, then SIGKILL after the shared timeout): frontend, replicas, catalog. */
  async stopGracefully(): Promise<Array<number | string>> {
    const codes: Array<number | string> = [];
    if (this.frontend) codes.push(await this.frontend.stop());
    codes.push(...await Promise.all([...this.replicas.values()].map((s) => s.stop())));
    if (this.catalog) codes.push(await this.catalog.stop());
    this.grpc.close();
    return codes;
  }

  /** SIGKILL every process this system started and close its clients; the data stays. */
  async stop(): Promise<void> {
    this.grpc.close();
    await Promise.all(this.all.map(killAndWait));
  }

  /** Every process this system started, in start order. */
  get services(): readonly RunningService[] {
    return this.all;
  }

  /** Output of every process, for a failure message. */
  logs(): string {
    return this.all.map((s) => `---- ${s.name} (pid ${s.pid})\n${s.output()}`).join("\n");
  }
}
