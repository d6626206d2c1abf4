// Test support (private module): an in-memory catalog and an in-process cluster of OrderNodes
// whose peer ports call each other directly, with faults injected per replica (down: calls
// fail UNAVAILABLE at once; hung: calls fail DEADLINE_EXCEEDED after their deadline). Errors
// cross the fake "wire" as gRPC ServiceErrors mapped by server.ts's toStatus, like real calls.

import * as fs from "node:fs";
import { setImmediate } from "node:timers";
import * as os from "node:os";
import * as path from "node:path";
import { grpc } from "../lib/grpc.ts";
import { Logger } from "../lib/log.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import type { TradeReply, TradeRequest } from "../gen/catalog.ts";
import { OrderSide } from "../gen/order.ts";
import type { PlaceRequest } from "../gen/order.ts";
import { OrderNode } from "./node.ts";
import { OrderLog, orderLogFile } from "./order_log.ts";
import type { CatalogPort, PeerPort } from "./ports.ts";
import { toStatus } from "./server.ts";

export function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: new grpc.Metadata() });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export const fakeStocks = ["GameStart", "FishCo", "BoarCo", "MenhirCo"] as const;
export const fakeInitialQuantity = 100;

/** The catalog's contract in memory: trades in order, idempotent by request id. */
export class FakeCatalog implements CatalogPort {
  readonly quantities = new Map<string, number>(fakeStocks.map((s) => [s, fakeInitialQuantity]));
  readonly applied = new Map<string, TradeReply>();
  down = false;
  batches = 0;

  async tradeBatch(trades: TradeRequest[], _timeoutMs: number): Promise<TradeReply[]> {
    await tick();
    if (this.down) throw serviceError(grpc.status.UNAVAILABLE, "catalog down");
    this.batches++;
    return trades.map((t) => this.trade(t));
  }

  close(): void {}

  private trade(t: TradeRequest): TradeReply {
    const recorded = this.applied.get(t.requestId);
    if (recorded) return { ...recorded, duplicate: true };
    const quantity = this.quantities.get(t.name);
    const fail = (status: TradeStatus): TradeReply => ({ status, stock: undefined, duplicate: false, message: `status ${status}` });
    if (quantity === undefined) return fail(TradeStatus.TRADE_UNKNOWN_STOCK);
    if (t.side !== Side.SIDE_BUY && t.side !== Side.SIDE_SELL) return fail(TradeStatus.TRADE_INVALID);
    if (t.side === Side.SIDE_BUY && quantity < t.quantity) return fail(TradeStatus.TRADE_INSUFFICIENT_QUANTITY);
    const next = quantity + (t.side === Side.SIDE_BUY ? -t.quantity : t.quantity);
    this.quantities.set(t.name, next);
    const reply: TradeReply = { status: TradeStatus.TRADE_OK, stock: { name: t.name, price: 1, quantity: next, volume: 0, version: 0 }, duplicate: false, message: "" };
    this.applied.set(t.requestId, reply);
    return reply;
  }
}

export function placeRequest(requestId: string, over: Partial<PlaceRequest> = {}): PlaceRequest {
  return { requestId, name: "GameStart", side: OrderSide.ORDER_SIDE_SELL, quantity: 1, ...over };
}

export class TestCluster {
  readonly dir: string;
  readonly ids: readonly number[];
  readonly catalog = new FakeCatalog();
  readonly nodes = new Map<number, OrderNode>();
  /** Replicas whose calls fail at once (crashed, or the port closed). */
  readonly down = new Set<number>();
  /** Replicas whose calls never answer (stopped process, lost network): they time out. */
  readonly hung = new Set<number>();
  /** Append calls per target replica, for tests that count them. */
  readonly appends = new Map<number, number>();

  private constructor(ids: readonly number[]) {
    this.ids = ids;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-order-cluster-"));
  }

  static async start(ids: readonly number[] = [1, 2, 3]): Promise<TestCluster> {
    const cluster = new TestCluster(ids);
    for (const id of ids) await cluster.open(id);
    await Promise.all(ids.map((id) => cluster.node(id).recover()));
    return cluster;
  }

  node(id: number): OrderNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`replica ${id} is not running`);
    return node;
  }

  file(id: number): string {
    return orderLogFile(this.dir, id);
  }

  /** Start (or restart) replica `id` from its file; call recover() to let it pull. */
  async open(id: number): Promise<OrderNode> {
    const log = await OrderLog.open(this.file(id));
    const level = process.env["TEST_LOG_LEVEL"] === "debug" ? "debug" : "silent";
    const node = new OrderNode({
      id, ids: this.ids, log, catalog: this.catalog,
      peers: this.ids.filter((p) => p !== id).map((p) => this.port(p)),
      logger: new Logger("order", { replica: id }, level),
      onFatal: (err) => {
        throw err;
      },
    });
    this.nodes.set(id, node);
    this.down.delete(id);
    return node;
  }

  /** Stop replica `id` (in-process stand-in for a crash: its calls fail from now on). */
  async crash(id: number): Promise<void> {
    this.down.add(id);
    await this.nodes.get(id)?.stop();
    this.nodes.delete(id);
  }

  /** SetLeader to every running replica, followers first like the frontend. */
  async setLeader(leaderId: number, epoch: number): Promise<void> {
    const others = [...this.nodes.keys()].filter((id) => id !== leaderId);
    await Promise.all(others.map((id) => this.node(id).setLeader({ leaderId, epoch }).catch(() => undefined)));
    await this.node(leaderId).setLeader({ leaderId, epoch });
  }

  files(): string[] {
    return this.ids.map((id) => fs.readFileSync(this.file(id), "utf8"));
  }

  /** Stop every replica and delete the cluster's files. */
  async stop(): Promise<void> {
    for (const node of this.nodes.values()) await node.stop();
    this.nodes.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private port(to: number): PeerPort {
    return {
      id: to,
      append: (request, timeoutMs) => {
        this.appends.set(to, (this.appends.get(to) ?? 0) + 1);
        return this.call(to, timeoutMs, (n) => n.append(structuredClone(request)));
      },
      since: (request, timeoutMs) => this.call(to, timeoutMs, (n) => n.since(request)),
      health: (timeoutMs) => this.call(to, timeoutMs, async (n) => n.health()),
      close: () => undefined,
    };
  }

  private async call<T>(to: number, timeoutMs: number, fn: (node: OrderNode) => Promise<T>): Promise<T> {
    await tick();
    if (this.hung.has(to)) {
      await new Promise((r) => setTimeout(r, timeoutMs));
      throw serviceError(grpc.status.DEADLINE_EXCEEDED, "deadline exceeded");
    }
    const node = this.nodes.get(to);
    if (!node || this.down.has(to)) throw serviceError(grpc.status.UNAVAILABLE, `replica ${to} is down`);
    try {
      const result = await fn(node);
      await tick();
      return structuredClone(result);
    } catch (err) {
      const status = toStatus(err);
      throw serviceError(status.code ?? grpc.status.UNKNOWN, status.details ?? "");
    }
  }
}
