// gRPC calls into a running system from a test, a benchmark or the chaos command: one client per
// catalog and replica address (made on first use, closed together), and the calls those callers
// make — Health, SetLeader as the frontend makes it, Place, Get, Lookup — each under a deadline.

import { CatalogClient } from "../../gen/catalog.ts";
import type { CatalogHealthReply, LookupRequest, Stock } from "../../gen/catalog.ts";
import { OrderClient } from "../../gen/order.ts";
import type {
  GetRequest,
  HealthReply,
  HealthRequest,
  OrderRecord,
  PlaceReply,
  PlaceRequest,
  SetLeaderReply,
  SetLeaderRequest,
} from "../../gen/order.ts";
import { callUnary, channelOptions, grpc, isServiceError } from "../../lib/grpc.ts";
import { sleep } from "../../lib/sleep.ts";

/** A catalog client on 127.0.0.1:`port`. */
export function catalogClient(port: number): CatalogClient {
  return new CatalogClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
}

/** An order replica client on 127.0.0.1:`port`. */
function orderClient(port: number): OrderClient {
  return new OrderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
}

/** The gRPC status a call that must fail failed with; anything else fails the test. */
export async function failureCode(call: Promise<unknown>): Promise<grpc.status> {
  try {
    await call;
  } catch (err) {
    if (isServiceError(err)) return err.code;
    throw err;
  }
  throw new Error("expected the call to fail");
}

/** How often `ready` asks a replica's Health again. */
const readyPollMs = 50;

export class GrpcCalls {
  private readonly catalogPort: () => number;
  private readonly replicaPorts: ReadonlyMap<number, number>;
  private catalog: CatalogClient | undefined;
  private catalogClientPort = 0;
  private readonly replicas = new Map<number, OrderClient>();

  /** `catalogPort` is asked on every call: a catalog restarted on PORT=0 gets a new one. */
  constructor(catalogPort: () => number, replicaPorts: ReadonlyMap<number, number>) {
    this.catalogPort = catalogPort;
    this.replicaPorts = replicaPorts;
  }

  replica(id: number): OrderClient {
    let client = this.replicas.get(id);
    if (client) return client;
    const port = this.replicaPorts.get(id);
    if (port === undefined) throw new Error(`no replica ${id}`);
    client = orderClient(port);
    this.replicas.set(id, client);
    return client;
  }

  catalogClient(): CatalogClient {
    const port = this.catalogPort();
    if (this.catalog && this.catalogClientPort === port) return this.catalog;
    this.catalog?.close();
    this.catalogClientPort = port;
    this.catalog = catalogClient(port);
    return this.catalog;
  }

  health(id: number, timeoutMs = 1_000): Promise<HealthReply> {
    const c = this.replica(id);
    return callUnary<HealthRequest, HealthReply>(c, c.health, {}, timeoutMs);
  }

  catalogHealth(timeoutMs = 1_000): Promise<CatalogHealthReply> {
    const c = this.catalogClient();
    return callUnary<object, CatalogHealthReply>(c, c.health, {}, timeoutMs);
  }

  /** Wait until a replica answers Health with ready = true. */
  async ready(id: number, timeoutMs = 10_000): Promise<HealthReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await this.health(id).catch(() => undefined);
      if (h?.ready) return h;
      if (Date.now() > deadline) throw new Error(`replica ${id} not ready within ${timeoutMs} ms`);
      await sleep(readyPollMs);
    }
  }

  /** SetLeader like the frontend: to the candidate only; it answers once elected and ready. */
  setLeader(leaderId: number, epoch: number): Promise<SetLeaderReply> {
    const c = this.replica(leaderId);
    return callUnary<SetLeaderRequest, SetLeaderReply>(c, c.setLeader, { leaderId, epoch }, 10_000);
  }

  place(id: number, request: PlaceRequest, timeoutMs = 3_000): Promise<PlaceReply> {
    const c = this.replica(id);
    return callUnary<PlaceRequest, PlaceReply>(c, c.place, request, timeoutMs);
  }

  get(id: number, number: number): Promise<OrderRecord> {
    const c = this.replica(id);
    return callUnary<GetRequest, OrderRecord>(c, c.get, { number }, 2_000);
  }

  lookup(name: string): Promise<Stock> {
    const c = this.catalogClient();
    return callUnary<LookupRequest, Stock>(c, c.lookup, { name }, 2_000);
  }

  close(): void {
    for (const c of this.replicas.values()) c.close();
    this.replicas.clear();
    this.catalog?.close();
    this.catalog = undefined;
  }
}
