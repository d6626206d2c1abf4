// The whole Stock Bazaar as real processes for the chaos command (scripts/chaos.ts): the
// catalog, three order replicas and two frontends on 127.0.0.1, built on local_system.ts
// (frontend "a" is the system's own; "b" is started on a fixed port so it can be killed and
// restarted at the same address). Every process is started by the LocalSystem, so processes.ts
// tracks it by PID and kills it on `dispose()` and on process exit, even when a run fails
// halfway. It injects no faults itself: it only kills, pauses, resumes and restarts what it is
// told to.

import * as fs from "node:fs";
import type { CatalogHealthReply } from "../../gen/catalog.ts";
import type { HealthReply } from "../../gen/order.ts";
import { freePort } from "../../lib/service_process.ts";
import type { RunningService } from "../../lib/service_process.ts";
import { LocalSystem } from "./local_system.ts";
import { killAllOnSignals, tempDir } from "./processes.ts";

/** The processes of one system, by role: `order-1`…`order-3`, `catalog`, `frontend-a`, `frontend-b`. */
export type Role = "catalog" | "order-1" | "order-2" | "order-3" | "frontend-a" | "frontend-b";
export const replicaIds = [1, 2, 3] as const;
export const frontendRoles = ["frontend-a", "frontend-b"] as const;
export type FrontendRole = (typeof frontendRoles)[number];
/** A gRPC Health call from the chaos command: short, a paused peer must not stall a poll. */
export const healthCallTimeoutMs = 500;

let signalHandlersInstalled = false;

export class ChaosSystem {
  readonly cluster: LocalSystem;
  readonly frontendBPort: number;
  private frontendB: RunningService;
  /** Processes paused by SIGSTOP and not resumed yet. */
  private readonly stopped = new Set<RunningService>();

  private constructor(cluster: LocalSystem, frontendBPort: number, frontendB: RunningService) {
    this.cluster = cluster;
    this.frontendBPort = frontendBPort;
    this.frontendB = frontendB;
  }

  static async start(): Promise<ChaosSystem> {
    if (!signalHandlersInstalled) killAllOnSignals();
    signalHandlersInstalled = true;
    const cluster = await LocalSystem.start({ dataDir: tempDir("chaos") });
    try {
      const port = await freePort();
      return new ChaosSystem(cluster, port, await startFrontendB(cluster, port));
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
    if (role === "catalog") await this.cluster.startCatalog();
    else if (role === "frontend-a") await this.cluster.startFrontend();
    else if (role === "frontend-b") this.frontendB = await startFrontendB(this.cluster, this.frontendBPort);
    else await this.cluster.startReplica(Number(role.slice("order-".length)));
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
    return this.cluster.grpc.health(id, healthCallTimeoutMs).catch(() => undefined);
  }

  catalogHealth(): Promise<CatalogHealthReply | undefined> {
    return this.cluster.grpc.catalogHealth(healthCallTimeoutMs).catch(() => undefined);
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

  /** A process for the final checks (a fresh catalog): started, tracked and stopped like the others. */
  startExtra(name: string, entry: string, env: Record<string, string>): Promise<RunningService> {
    return this.cluster.startService(name, entry, { LOG_LEVEL: "info", ...env });
  }

  /** Output of every process this system ever started, restarts included, in start order. */
  logs(): string {
    return this.cluster.logs();
  }

  /** Kill every process (SIGCONT first, so none stays stopped) and close the gRPC clients. */
  async dispose(keepDataDir: boolean): Promise<void> {
    for (const s of this.cluster.services) if (alive(s)) s.kill("SIGCONT");
    await this.cluster.stop();
    if (!keepDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function alive(s: RunningService): boolean {
  return s.child.exitCode === null && s.child.signalCode === null;
}

function startFrontendB(cluster: LocalSystem, port: number): Promise<RunningService> {
  return cluster.startExtraFrontend("frontend-b", { PORT: String(port) });
}
