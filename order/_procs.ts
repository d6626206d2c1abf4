// Test and benchmark support (private module): a real catalog and real order replicas as child
// processes on free 127.0.0.1 ports with a temp DATA_DIR, gRPC clients to each, and cleanup
// of every process started here by its PID (SIGKILL), also when a test fails halfway.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { callUnary, channelOptions, grpc } from "../lib/grpc.ts";
import { startService } from "../lib/service_process.ts";
import type { RunningService, ServiceSpec } from "../lib/service_process.ts";
import { CatalogClient } from "../gen/catalog.ts";
import type { LookupRequest, Stock } from "../gen/catalog.ts";
import { OrderClient } from "../gen/order.ts";
import type {
  HealthReply, HealthRequest, OrderRecord, GetRequest, PlaceReply, PlaceRequest, SetLeaderReply, SetLeaderRequest,
} from "../gen/order.ts";
import { freePort } from "../lib/service_process.ts";
export { freePort };


const verbose = process.env["TEST_VERBOSE"] !== undefined;

function start(spec: Omit<ServiceSpec, "onLine">): Promise<RunningService> {
  return startService(verbose ? { ...spec, onLine: (line) => process.stderr.write(`[${spec.name}] ${line}\n`) } : spec);
}

export class ProcessCluster {
  readonly dir: string;
  readonly ids: readonly number[];
  readonly ports = new Map<number, number>();
  readonly clients = new Map<number, OrderClient>();
  readonly replicas = new Map<number, RunningService>();
  catalog: RunningService | undefined;
  catalogClient: CatalogClient | undefined;
  /** Every process ever started, restarted ones included, for cleanup. */
  private readonly started: RunningService[] = [];
  private readonly logLevel: string;

  private constructor(ids: readonly number[], logLevel: string) {
    this.ids = ids;
    this.logLevel = logLevel;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-order-procs-"));
  }

  /** Catalog and replicas started and listening. */
  static async start(ids: readonly number[] = [1, 2, 3], logLevel = "info"): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(ids, logLevel);
    try {
      for (const id of ids) cluster.ports.set(id, await freePort());
      await cluster.startCatalog();
      // Settled, not Promise.all: every replica is tracked before killAll (see test/support/cluster.ts).
      const replicas = await Promise.allSettled(ids.map((id) => cluster.startReplica(id)));
      for (const r of replicas) if (r.status === "rejected") throw r.reason;
    } catch (err) {
      cluster.killAll();
      throw err;
    }
    return cluster;
  }

  get orderReplicas(): string {
    return this.ids.map((id) => `${id}@127.0.0.1:${this.ports.get(id)}`).join(",");
  }

  file(id: number): string {
    return path.join(this.dir, `orders-${id}.csv`);
  }

  async startCatalog(): Promise<void> {
    this.catalog = await this.track(start({
      name: "catalog", entry: "catalog/main.ts",
      env: { PORT: "0", HOST: "127.0.0.1", DATA_DIR: path.join(this.dir, "catalog"), LOG_LEVEL: "info" },
    }));
    this.catalogClient = new CatalogClient(`127.0.0.1:${this.catalog.port}`, grpc.credentials.createInsecure(), channelOptions);
  }

  async startReplica(id: number): Promise<RunningService> {
    const catalog = this.catalog;
    if (!catalog) throw new Error("start the catalog first");
    const service = await this.track(start({
      name: `order-${id}`, entry: "order/main.ts",
      env: {
        ORDER_ID: String(id), ORDER_REPLICAS: this.orderReplicas, HOST: "127.0.0.1", DATA_DIR: this.dir,
        CATALOG_ADDR: `127.0.0.1:${catalog.port}`, LOG_LEVEL: this.logLevel,
      },
    }));
    this.replicas.set(id, service);
    if (!this.clients.has(id)) {
      this.clients.set(id, new OrderClient(`127.0.0.1:${this.ports.get(id)}`, grpc.credentials.createInsecure(), channelOptions));
    }
    return service;
  }

  client(id: number): OrderClient {
    const client = this.clients.get(id);
    if (!client) throw new Error(`no replica ${id}`);
    return client;
  }

  /** SIGKILL one replica and wait for it to be gone. */
  async kill(id: number): Promise<void> {
    const service = this.replicas.get(id);
    if (!service) return;
    service.kill("SIGKILL");
    await service.exited;
    this.replicas.delete(id);
  }

  health(id: number, timeoutMs = 1_000): Promise<HealthReply> {
    const c = this.client(id);
    return callUnary<HealthRequest, HealthReply>(c, c.health, {}, timeoutMs);
  }

  /** Wait until a replica answers Health with ready = true. */
  async ready(id: number, timeoutMs = 10_000): Promise<HealthReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await this.health(id).catch(() => undefined);
      if (h?.ready) return h;
      if (Date.now() > deadline) throw new Error(`replica ${id} not ready within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SetLeader like the frontend: to the candidate only; it answers once elected and ready. */
  setLeader(leaderId: number, epoch: number): Promise<SetLeaderReply> {
    const c = this.client(leaderId);
    return callUnary<SetLeaderRequest, SetLeaderReply>(c, c.setLeader, { leaderId, epoch }, 10_000);
  }

  place(id: number, request: PlaceRequest, timeoutMs = 3_000): Promise<PlaceReply> {
    const c = this.client(id);
    return callUnary<PlaceRequest, PlaceReply>(c, c.place, request, timeoutMs);
  }

  get(id: number, number: number): Promise<OrderRecord> {
    const c = this.client(id);
    return callUnary<GetRequest, OrderRecord>(c, c.get, { number }, 2_000);
  }

  lookup(name: string): Promise<Stock> {
    const c = this.catalogClient as CatalogClient;
    return callUnary<LookupRequest, Stock>(c, c.lookup, { name }, 2_000);
  }

  /** PIDs of the running processes by name (catalog, order-<id>). */
  pids(): Array<[string, number]> {
    const all: Array<[string, number]> = this.catalog ? [["catalog", this.catalog.pid]] : [];
    return [...all, ...[...this.replicas].map(([id, s]): [string, number] => [`order-${id}`, s.pid])];
  }

  logs(): string {
    return this.started.map((s) => `--- ${s.name} (pid ${s.pid})\n${s.output()}`).join("\n");
  }

  /** SIGKILL everything started here, by PID; close the clients; delete the data. */
  killAll(): void {
    for (const s of this.started) s.kill("SIGKILL");
    this.closeClients();
    fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }

  /** Graceful stop (SIGTERM, then SIGKILL after the shared timeout), keeping the data. */
  async stopAll(): Promise<Array<number | string>> {
    const codes = await Promise.all([...this.replicas.values()].map((s) => s.stop()));
    if (this.catalog) codes.push(await this.catalog.stop());
    this.closeClients();
    return codes;
  }

  private closeClients(): void {
    for (const c of this.clients.values()) c.close();
    this.catalogClient?.close();
  }

  private async track(starting: Promise<RunningService>): Promise<RunningService> {
    const service = await starting;
    this.started.push(service);
    return service;
  }
}
