// Leader selection (SPEC section 5) against fake order replicas served over real gRPC: each
// answers Health and SetLeader from a small state a case sets (epoch, ready, down, refusing),
// and records the SetLeader calls it received, in order across all replicas.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrderService } from "../gen/order.ts";
import type { HealthReply, SetLeaderRequest } from "../gen/order.ts";
import { bindServer, grpc } from "../lib/grpc.ts";
import { Logger } from "../lib/log.ts";
import { waitFor } from "../test/support/wait.ts";
import { freePort } from "../lib/service_process.ts";
import { ApiError } from "./errors.ts";
import { LeaderSelector } from "./leader_selector.ts";

const log = new Logger("leader-selector-test", {}, "silent");

type FakeReplica = {
  readonly id: number;
  port: number;
  epoch: number;
  leaderId: number;
  ready: boolean;
  /** SetLeader fails (as a replica that cannot catch up would) instead of accepting. */
  refuseSetLeader: boolean;
  server: grpc.Server | undefined;
};

type SetLeaderCall = { readonly to: number } & SetLeaderRequest;

class FakeReplicas {
  readonly calls: SetLeaderCall[] = [];
  readonly replicas = new Map<number, FakeReplica>();

  static async start(ids: readonly number[]): Promise<FakeReplicas> {
    const fakes = new FakeReplicas();
    for (const id of ids) {
      // A port from freePort, so a replica brought back binds it again (see freePort).
      const replica: FakeReplica = { id, port: await freePort(), epoch: 0, leaderId: 0, ready: true, refuseSetLeader: false, server: undefined };
      fakes.replicas.set(id, replica);
      await fakes.serve(replica);
    }
    return fakes;
  }

  get(id: number): FakeReplica {
    const replica = this.replicas.get(id);
    assert.ok(replica, `no fake replica ${id}`);
    return replica;
  }

  /** Serve (again) on the replica's port. */
  async serve(replica: FakeReplica): Promise<void> {
    const server = new grpc.Server();
    const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>): void => callback({ code: grpc.status.UNIMPLEMENTED });
    server.addService(OrderService, {
      place: unimplemented, placeBatch: unimplemented, placeBatches: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
      get: unimplemented, append: unimplemented, appends: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
      since: unimplemented,
      health: (_call: unknown, callback: grpc.sendUnaryData<HealthReply>) => callback(null, {
        id: replica.id, lastNumber: -1, epoch: replica.epoch, leaderId: replica.leaderId, ready: replica.ready, liveFollowers: [],
      }),
      setLeader: (call: grpc.ServerUnaryCall<SetLeaderRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { leaderId, epoch } = call.request;
        this.calls.push({ to: replica.id, leaderId, epoch });
        if (epoch <= replica.epoch) return callback({ code: grpc.status.FAILED_PRECONDITION, details: `epoch ${epoch} is not above ${replica.epoch}` });
        if (replica.refuseSetLeader && leaderId === replica.id) return callback({ code: grpc.status.UNAVAILABLE, details: "cannot catch up" });
        replica.epoch = epoch;
        replica.leaderId = leaderId;
        callback(null, { epoch, lastNumber: -1 });
      },
    } as unknown as grpc.UntypedServiceImplementation);
    replica.port = await bindServer(server, "127.0.0.1", replica.port);
    replica.server = server;
  }

  /** Gone at once, as after SIGKILL: connections are refused. */
  down(id: number): void {
    const replica = this.get(id);
    replica.server?.forceShutdown();
    replica.server = undefined;
  }

  selector(): LeaderSelector {
    return new LeaderSelector([...this.replicas.values()].map((r) => ({ id: r.id, addr: { host: "127.0.0.1", port: r.port } })), log);
  }

  stop(): void {
    for (const id of this.replicas.keys()) this.down(id);
  }
}

async function withReplicas(ids: readonly number[], body: (fakes: FakeReplicas) => Promise<void>): Promise<void> {
  const fakes = await FakeReplicas.start(ids);
  try {
    await body(fakes);
  } finally {
    fakes.stop();
  }
}

test("the highest id leads, with one new epoch above any a replica has seen; followers hear of it first", () => withReplicas([1, 2, 3], async (fakes) => {
  fakes.get(2).epoch = 4;
  fakes.get(3).epoch = 2;
  const selector = fakes.selector();
  try {
    const leader = await selector.current();
    assert.equal([leader.id, selector.leaderId(), selector.currentEpoch(), selector.elections], [3, 3, 5, 1]);
    assert.equal(fakes.calls.map((c) => [c.leaderId, c.epoch]), [[3, 5], [3, 5], [3, 5]]);
    assert.equal(fakes.calls.map((c) => c.to).slice(0, 2).sort(), [1, 2], "the followers first");
    assert.is(fakes.calls[2]?.to, 3, "the new leader last");
    assert.is(await selector.current(), leader, "kept until it fails");
    assert.is(fakes.calls.length, 3);
  } finally {
    selector.close();
  }
}));

test("the highest replica down: the next one leads; when it fails too, the last one, in a newer epoch", () => withReplicas([1, 2, 3], async (fakes) => {
  fakes.down(3);
  const selector = fakes.selector();
  try {
    const second = await selector.current();
    assert.equal([second.id, selector.currentEpoch()], [2, 1]);
    fakes.down(2);
    const first = await selector.reselect(second);
    assert.equal([first.id, selector.currentEpoch(), selector.elections], [1, 2, 2]);
    assert.equal([fakes.get(1).leaderId, fakes.get(1).epoch], [1, 2]);
    // A request that saw the old leader fail reuses the new one instead of electing again.
    assert.is(await selector.reselect(second), first);
    assert.is(selector.elections, 2);
  } finally {
    selector.close();
  }
}));

test("a candidate that refuses SetLeader is passed over, and the next one gets a fresh epoch", () => withReplicas([1, 2, 3], async (fakes) => {
  fakes.get(3).refuseSetLeader = true;
  const selector = fakes.selector();
  try {
    const leader = await selector.current();
    assert.equal([leader.id, selector.currentEpoch()], [2, 2]);
    // Replica 1 accepted epoch 1 for leader 3, so leader 2 needs a newer one it will accept.
    assert.equal([fakes.get(1).leaderId, fakes.get(1).epoch], [2, 2]);
  } finally {
    selector.close();
  }
}));

test("requests that see the leader fail at once share one election", () => withReplicas([1, 2, 3], async (fakes) => {
  const selector = fakes.selector();
  try {
    const leader = await selector.current();
    fakes.down(3);
    const callsBefore = fakes.calls.length;
    const next = await Promise.all(Array.from({ length: 20 }, () => selector.reselect(leader)));
    assert.ok(next.every((r) => r.id === 2));
    assert.is(selector.elections, 2);
    assert.is(fakes.calls.length - callsBefore, 2, "one SetLeader to each replica still up");
  } finally {
    selector.close();
  }
}));

test("no replica answers: 503 with Retry-After; once one is back, it leads", () => withReplicas([1, 2], async (fakes) => {
  fakes.down(1);
  fakes.down(2);
  const selector = fakes.selector();
  try {
    const err = await selector.current().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ApiError && err.status === 503 && err.headers?.["retry-after"] !== undefined, `got ${String(err)}`);
    await fakes.serve(fakes.get(1));
    // The channel reconnects within its backoff (at most 500 ms); until then selection fails fast.
    await waitFor(() => selector.current().then(() => true, () => false), 5_000, "a leader once replica 1 is back");
    assert.is((await selector.current()).id, 1);
  } finally {
    selector.close();
  }
}));

test.run();
