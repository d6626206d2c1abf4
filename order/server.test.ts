// The gRPC face of a replica: statuses for every error code, and a real round trip through
// server.ts and the ports.ts clients (one replica, a catalog that is not there).

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bindServer, grpc, isServiceError, serverOptions, shutdownServer } from "../lib/grpc.ts";
import { StreamCallServer } from "../lib/stream_calls.ts";
import { Logger } from "../lib/log.ts";
import { OrderClient, OrderService } from "../gen/order.ts";
import type { OrderErrorCode } from "./errors.ts";
import { OrderError } from "./errors.ts";
import { OrderNode } from "./node.ts";
import { OrderLog, orderLogFile } from "./order_log.ts";
import { grpcCatalog, grpcPeer } from "./ports.ts";
import type { PeerPort } from "./ports.ts";
import { orderService, toStatus } from "./server.ts";

test("every error code has its gRPC status", () => {
  const expected: Record<OrderErrorCode, grpc.status> = {
    NOT_LEADER: grpc.status.FAILED_PRECONDITION, STALE_EPOCH: grpc.status.FAILED_PRECONDITION,
    NOT_READY: grpc.status.UNAVAILABLE, UNAVAILABLE: grpc.status.UNAVAILABLE, GAP: grpc.status.OUT_OF_RANGE,
    DIVERGED: grpc.status.DATA_LOSS, NOT_FOUND: grpc.status.NOT_FOUND, INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
    OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  };
  for (const [code, status] of Object.entries(expected)) {
    assert.is(toStatus(new OrderError(code as OrderErrorCode, "m")).code, status, code);
  }
  assert.is(toStatus(new Error("boom")).code, grpc.status.INTERNAL);
});

async function code(p: Promise<unknown>): Promise<grpc.status> {
  try {
    await p;
  } catch (err) {
    if (isServiceError(err)) return err.code;
    throw err;
  }
  throw new Error("expected a failure");
}

test("a replica over real gRPC: Health, Since, SetLeader, Append, and refusals as statuses", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-order-server-"));
  const logger = new Logger("order", { replica: 1 }, "silent");
  const log = await OrderLog.open(orderLogFile(dir, 1));
  const node = new OrderNode({ id: 1, ids: [1, 2], log, logger, peers: [], catalog: grpcCatalog({ host: "127.0.0.1", port: 1 }) });
  const server = new grpc.Server(serverOptions);
  server.addService(OrderService, orderService(node, logger, new StreamCallServer()));
  const port = await bindServer(server, "127.0.0.1", 0);
  const peer: PeerPort = grpcPeer({ id: 1, addr: { host: "127.0.0.1", port } });
  try {
    await node.recover();
    assert.equal(await peer.health(1_000), { id: 1, lastNumber: -1, epoch: 0, leaderId: 0, ready: true, liveFollowers: [] });
    const order = { number: 0, name: "GameStart", side: 1, quantity: 2, requestId: "r0" } as const;
    assert.equal(await peer.append({ epoch: 1, leaderId: 2, orders: [order] }, 1_000), { lastNumber: 0 });
    assert.is(await code(peer.append({ epoch: 1, leaderId: 2, orders: [{ ...order, number: 5 }] }, 1_000)), grpc.status.OUT_OF_RANGE);
    assert.is(await code(peer.append({ epoch: 0, leaderId: 2, orders: [] }, 1_000)), grpc.status.INVALID_ARGUMENT);
    assert.equal(await peer.since({ afterNumber: -1, limit: 0 }, 1_000), { orders: [order], lastNumber: 0 });
    // Replica 2 leads epoch 1: Place here is refused, and a stale SetLeader too.
    const raw = new OrderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = <T>(fn: (cb: (e: grpc.ServiceError | null, r: T) => void) => void): Promise<T> =>
      new Promise((resolve, reject) => fn((e, r) => (e ? reject(e) : resolve(r))));
    assert.is(await code(call((cb) => raw.place({ requestId: "x", name: "GameStart", side: 1, quantity: 1 }, cb))), grpc.status.FAILED_PRECONDITION);
    assert.is(await code(call((cb) => raw.get({ number: 0 }, cb))), grpc.status.FAILED_PRECONDITION);
    assert.is(await code(call((cb) => raw.setLeader({ leaderId: 1, epoch: 0 }, cb))), grpc.status.INVALID_ARGUMENT);
    // Leading alone, with the catalog down: Place fails UNAVAILABLE, Get still answers.
    assert.equal(await call((cb) => raw.setLeader({ leaderId: 1, epoch: 2 }, cb)), { epoch: 2, lastNumber: 0 });
    assert.is(await code(call((cb) => raw.place({ requestId: "x", name: "GameStart", side: 1, quantity: 1 }, cb))), grpc.status.UNAVAILABLE);
    assert.equal(await call((cb) => raw.get({ number: 0 }, cb)), order);
    assert.is(await code(call((cb) => raw.get({ number: 1 }, cb))), grpc.status.NOT_FOUND);
    raw.close();
  } finally {
    peer.close();
    await shutdownServer(server);
    await node.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
