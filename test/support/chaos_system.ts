// The whole Stock Bazaar as real processes for the chaos command (scripts/chaos.ts): the
// catalog, three order replicas and two frontends on 127.0.0.1, built on test/support/cluster.ts
// (frontend "a" is the cluster's own; "b" is started here on a fixed port so it can be killed
// and restarted at the same address). Every process ever started is tracked by PID and killed
// on `dispose()` and on process exit, even when a run fails halfway. It injects no faults itself:
// it only kills, pauses, resumes and restarts what it is told to.

import * as fs from "node:fs";
import { CatalogClient } from "../../gen/catalog.ts";
import type { CatalogHealthReply } from "../../gen/catalog.ts";
import { OrderClient } from "../../gen/order.ts";
import type { HealthReply } from "../../gen/order.ts";
import { callUnary, channelOptions, grpc } from "../../lib/grpc.ts";
import { freePort, startService } from "../../lib/service_process.ts";
import type { RunningService } from "../../lib/service_process.ts";
import { Cluster, tempDir } from "./cluster.ts";

/** The processes of one system, by role: `order-1`…`order-3`, `catalog`, `frontend-a`, `frontend-b`. */
export type Role = "catalog" | "order-1" | "order-2" | "order-3" | "frontend-a" | "frontend-b";
export const replicaIds = [1, 2, 3] as const;
export const frontendRoles = ["frontend-a", "frontend-b"] as const;
export type FrontendRole = (typeof frontendRoles)[number];
/** A gRPC Health call from the chaos command: short, a paused peer must not stall a poll. */
export const healthCallTimeoutMs = 500;

/** Every process any chaos system started in this process, for the exit handler. */
const everyProcess = new Set<RunningService>();
let exitHandlerInstalled = false;

/** SIGKILL everything still running, synchronously: usable from an 'exit' handler. */
export function killEveryProcess(): void {
  for (const s of everyProcess) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      try { process.kill(s.pid, "SIGKILL"); } catch { /* already gone */ }
    }
  }
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on("exit", killEveryProcess);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killEveryProcess();
      process.exit(130);
    });
  }
}

export class ChaosSystem {
  readonly cluster: Cluster;
  readonly frontendBPort: number;
  private frontendB: RunningService;
  /** Processes paused by SIGSTOP and not resumed yet. */
  private readonly stopped = new Set<RunningService>();
  /** Every process started, restarts and the final catalog check included (for logs()). */
  private readonly started: RunningService[] = [];
  private readonly catalogClient: CatalogClient;
  private readonly orderClients = new Map<number, OrderClient>();

  private constructor(cluster: Cluster, frontendBPort: number, frontendB: RunningService) {
    this.cluster = cluster;
    this.frontendBPort = frontendBPort;
    this.frontendB = frontendB;
    this.catalogClient = new CatalogClient(`127.0.0.1:${cluster.catalogPort}`, grpc.credentials.createInsecure(), channelOptions);
    for (const [id, port] of cluster.replicaPorts) {
      this.orderClients.set(id, new OrderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions));
    }
  }

  static async start(): Promise<ChaosSystem> {
    installExitHandler();
    const cluster = await Cluster.start({ dataDir: tempDir("chaos") });
    for (const s of [cluster.catalog, ...cluster.replicas.values(), cluster.frontend]) track(s);
    try {
      const port = await freePort();
      const system = new ChaosSystem(cluster, port, await startFrontendB(cluster, port));
      system.started.push(...[cluster.catalog, ...cluster.replicas.values(), cluster.frontend, system.frontendB].filter(isService));
      return system;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get dataDir(): string {
    return this.cluster.dataDir;
  }

  url(role: FrontendRole): string {
    return role === "frontend-a" ? this.cluster.url : `http://127.0.0.1:${this.frontendBPort}`;
  }

  service(role: Role): RunningService | undefined {
    if (role === "catalog") return this.cluster.catalog;
    if (role === "frontend-a") return this.cluster.frontend;
    if (role === "frontend-b") return this.frontendB;
    return this.cluster.replicas.get(Number(role.slice("order-".length)));
  }

  /** SIGKILL and wait until the process is gone. */
  async kill(role: Role): Promise<void> {
    const s = this.service(role);
    if (!s) return;
    this.stopped.delete(s);
    s.kill("SIGKILL");
    await s.exited;
  }

  pause(role: Role): void {
    const s = this.service(role);
    if (!s || !alive(s)) return;
    s.kill("SIGSTOP");
    this.stopped.add(s);
  }

  resume(role: Role): void {
    const s = this.service(role);
    if (!s) return;
    if (alive(s)) s.kill("SIGCONT");
    this.stopped.delete(s);
  }

  /** Start the role's process again (same port, same DATA_DIR); rejects with its output if it cannot. */
  async restart(role: Role): Promise<void> {
    let s: RunningService;
    if (role === "catalog") s = await this.cluster.startCatalog();
    else if (role === "frontend-a") s = await this.cluster.startFrontend();
    else if (role === "frontend-b") s = this.frontendB = await startFrontendB(this.cluster, this.frontendBPort);
    else s = await this.cluster.startReplica(Number(role.slice("order-".length)));
    track(s);
    this.started.push(s);
  }

  isUp(role: Role): boolean {
    const s = this.service(role);
    return s !== undefined && alive(s);
  }

  /** Resume every paused process and restart every dead one; returns the roles that failed to start. */
  async healAll(): Promise<{ role: Role; error: string }[]> {
    for (const s of this.stopped) if (alive(s)) s.kill("SIGCONT");
    this.stopped.clear();
    const failed: { role: Role; error: string }[] = [];
    const roles: Role[] = ["catalog", "order-1", "order-2", "order-3", "frontend-a", "frontend-b"];
    for (const role of roles) {
      if (this.isUp(role)) continue;
      try {
        await this.restart(role);
      } catch (err) {
        failed.push({ role, error: String(err) });
      }
    }
    return failed;
  }

  replicaHealth(id: number): Promise<HealthReply | undefined> {
    const client = this.orderClients.get(id) as OrderClient;
    return callUnary<object, HealthReply>(client, client.health, {}, healthCallTimeoutMs).catch(() => undefined);
  }

  catalogHealth(): Promise<CatalogHealthReply | undefined> {
    return callUnary<object, CatalogHealthReply>(this.catalogClient, this.catalogClient.health, {}, healthCallTimeoutMs).catch(() => undefined);
  }

  /** SIGTERM every service (frontends, then replicas, then the catalog); the exit code of each. */
  async stopGracefully(): Promise<{ role: Role; code: number | string }[]> {
    const codes: { role: Role; code: number | string }[] = [];
    const stopRoles = async (roles: readonly Role[]): Promise<void> => {
      await Promise.all(roles.map(async (role) => {
        const s = this.service(role);
        if (s && alive(s)) codes.push({ role, code: await s.stop() });
      }));
    };
    await stopRoles(frontendRoles);
    await stopRoles(replicaIds.map((id) => `order-${id}` as Role));
    await stopRoles(["catalog"]);
    return codes;
  }

  /** A process started here for the final checks (a fresh catalog): tracked like the others. */
  async startExtra(name: string, entry: string, env: Record<string, string>): Promise<RunningService> {
    const s = await startService({ name, entry, env: { DATA_DIR: this.dataDir, LOG_LEVEL: "info", REDIS_URL: "", ...env } });
    track(s);
    this.started.push(s);
    return s;
  }

  /** Output of every process this system ever started, in start order. */
  logs(): string {
    return this.started.map((s) => `---- ${s.name} (pid ${s.pid})\n${s.output()}`).join("\n");
  }

  /** Kill every process (SIGCONT first, so none stays stopped) and close the gRPC clients. */
  async dispose(keepDataDir: boolean): Promise<void> {
    this.catalogClient.close();
    for (const c of this.orderClients.values()) c.close();
    for (const s of this.started) if (alive(s)) s.kill("SIGCONT");
    await Promise.all(this.started.map(async (s) => {
      s.kill("SIGKILL");
      await s.exited;
      everyProcess.delete(s);
    }));
    await this.cluster.stop();
    if (!keepDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function track(s: RunningService | undefined): void {
  if (s) everyProcess.add(s);
}

function isService(s: RunningService | undefined): s is RunningService {
  return s !== undefined;
}

function alive(s: RunningService): boolean {
  return s.child.exitCode === null && s.child.signalCode === null;
}

function startFrontendB(cluster: Cluster, port: number): Promise<RunningService> {
  return startService({
    name: "frontend-b", entry: "frontend/main.ts",
    env: { PORT: String(port), CATALOG_ADDR: `127.0.0.1:${cluster.catalogPort}`, ORDER_REPLICAS: cluster.orderReplicas, LOG_LEVEL: "info", REDIS_URL: "" },
  });
}
