// Scenario tests of the replication decisions, without sockets or disk (etcd-raft style): each
// scenario feeds messages to a ReplicaState over an in-memory log and compares the trace of
// decisions with the expected one.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrderSide } from "../gen/order.ts";
import type { HealthReply, OrderRecord } from "../gen/order.ts";
import { divergenceOrdersMax, sincePageMax } from "./limits.ts";
import { ReplicaState, catchUpStart, planRecovery, pullStart, reconcile, sincePage } from "./replica.ts";
import type { AppendDecision, LogView, Persist, SetLeaderDecision } from "./replica.ts";

function order(number: number, tag = "a"): OrderRecord {
  return { number, name: "GameStart", side: OrderSide.ORDER_SIDE_BUY, quantity: 1, requestId: `${tag}-${number}` };
}

function range(from: number, to: number, tag = "a"): OrderRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => order(from + i, tag));
}

/** An in-memory log that applies Persist decisions like OrderNode does on disk. */
class MemLog implements LogView {
  orders: OrderRecord[] = [];
  constructor(orders: OrderRecord[] = []) {
    this.orders = [...orders];
  }
  get lastNumber(): number {
    return this.orders.length - 1;
  }
  at(n: number): OrderRecord | undefined {
    return this.orders[n];
  }
  numberOf(requestId: string): number | undefined {
    const i = this.orders.findIndex((o) => o.requestId === requestId);
    return i < 0 ? undefined : i;
  }
  slice(from: number, to: number): OrderRecord[] {
    return this.orders.slice(from, to);
  }
  apply(d: Persist): void {
    if (d.truncateFrom !== undefined) this.orders.length = d.truncateFrom;
    this.orders.push(...d.orders);
  }
}

function span(orders: readonly OrderRecord[]): string {
  return orders.length === 0 ? "none" : `${orders[0]?.number}..${orders[orders.length - 1]?.number}`;
}

function describe(d: SetLeaderDecision | AppendDecision | Persist | { kind: "refuse"; code: string }): string {
  if (d.kind === "refuse") return `refuse ${d.code}`;
  if (d.kind === "persist") {
    const ends = "endsLeadership" in d && d.endsLeadership ? " ends-leadership" : "";
    return `persist truncate=${d.truncateFrom ?? "-"} append=${span(d.orders)}${ends}`;
  }
  return `${d.kind} e${d.epoch}${d.fresh ? " fresh" : ""}${d.endsLeadership ? " ends-leadership" : ""}`;
}

/** Drive one replica with a script of messages; returns the trace of decisions. */
function run(replica: ReplicaState, log: MemLog, script: ReadonlyArray<["setLeader", number, number] | ["append", number, number, OrderRecord[]]>): string[] {
  return script.map((step) => {
    if (step[0] === "setLeader") return describe(replica.handleSetLeader(step[1], step[2]));
    const d = replica.handleAppend({ leaderId: step[1], epoch: step[2], orders: step[3] }, log);
    if (d.kind === "persist") log.apply(d);
    return describe(d);
  });
}

test("SetLeader: newer or equal epochs are adopted, older ones and a second leader per epoch refused", () => {
  const r = new ReplicaState(1, [1, 2, 3]);
  const trace = run(r, new MemLog(), [
    ["setLeader", 3, 1],
    ["setLeader", 3, 1],
    ["setLeader", 2, 1],
    ["setLeader", 2, 0],
    ["setLeader", 9, 4],
    ["setLeader", 1, 2],
    ["setLeader", 3, 1],
    ["setLeader", 2, 3],
  ]);
  assert.equal(trace, [
    "follow e1 fresh",
    "follow e1",
    "refuse STALE_EPOCH",
    "refuse INVALID_ARGUMENT",
    "refuse INVALID_ARGUMENT",
    "lead e2 fresh",
    "refuse STALE_EPOCH",
    "follow e3 fresh ends-leadership",
  ]);
  assert.equal([r.epoch, r.leaderId, r.role], [3, 2, "follower"]);
});

test("ready: a replica serves only once recovered, a leader only once caught up", () => {
  const r = new ReplicaState(2, [1, 2, 3]);
  assert.is(r.ready, false);
  r.markRecovered();
  assert.is(r.ready, true);
  r.handleSetLeader(2, 1);
  assert.equal([r.ready, r.serving], [false, false]);
  r.markLeaderReady(1);
  assert.equal([r.ready, r.serving], [true, true]);
  r.stepDown();
  assert.equal([r.role, r.leaderId, r.epoch, r.ready, r.serving], ["follower", 0, 1, true, false]);
});

test("Append: stale epoch refused, gap refused, overlap ignored, newer epoch adopted", () => {
  const r = new ReplicaState(1, [1, 2, 3]);
  const log = new MemLog();
  const trace = run(r, log, [
    ["setLeader", 3, 2],
    ["append", 2, 1, range(0, 2)],
    ["append", 3, 2, range(0, 2)],
    ["append", 3, 2, range(5, 6)],
    ["append", 3, 2, range(1, 4)],
    ["append", 3, 2, []],
    ["append", 2, 3, range(3, 5)],
    ["append", 3, 2, range(6, 6)],
  ]);
  assert.equal(trace, [
    "follow e2 fresh",
    "refuse STALE_EPOCH",
    "persist truncate=- append=0..2",
    "refuse GAP",
    "persist truncate=- append=3..4",
    "persist truncate=- append=none",
    "persist truncate=- append=5..5",
    "refuse STALE_EPOCH",
  ]);
  assert.equal(log.orders, range(0, 5));
  assert.equal([r.epoch, r.leaderId], [3, 2]);
});

test("Append: a leader refuses Append in its own epoch and steps down for a newer one", () => {
  const r = new ReplicaState(3, [1, 2, 3]);
  const trace = run(r, new MemLog(), [
    ["setLeader", 3, 1],
    ["append", 2, 1, []],
    ["append", 2, 2, []],
  ]);
  assert.equal(trace, ["lead e1 fresh", "refuse STALE_EPOCH", "persist truncate=- append=none ends-leadership"]);
  assert.equal([r.role, r.leaderId, r.epoch], ["follower", 2, 2]);
});

test("Append: a deposed leader's unacknowledged batch is dropped when the new leader's orders differ", () => {
  // Replica 3 led epoch 1 and wrote 3..4 locally before it crashed; replica 2 numbered other
  // orders 3..5 in epoch 2. The restarted 3 receives them as a follower.
  const r = new ReplicaState(3, [1, 2, 3]);
  const log = new MemLog(range(0, 4));
  const trace = run(r, log, [
    ["append", 2, 2, range(0, 2)],
    ["append", 2, 2, range(3, 5, "b")],
    ["append", 2, 2, range(3, 6, "b")],
  ]);
  assert.equal(trace, ["persist truncate=- append=none", "persist truncate=3 append=3..5", "persist truncate=- append=6..6"]);
  assert.equal(log.orders, [...range(0, 2), ...range(3, 6, "b")]);
});

test("Append: a divergent tail is dropped up to divergenceOrdersMax orders, refused one past it", () => {
  const r = new ReplicaState(1, [1, 2, 3]);
  const last = divergenceOrdersMax + 5;
  const log = new MemLog(range(0, last));
  const onePast = last - divergenceOrdersMax; // dropping from here drops divergenceOrdersMax + 1
  const trace = run(r, log, [["append", 2, 1, range(onePast, onePast + 1, "b")], ["append", 2, 1, range(onePast + 1, onePast + 2, "b")]]);
  assert.equal(trace, ["refuse DIVERGED", `persist truncate=${onePast + 1} append=${onePast + 1}..${onePast + 2}`]);
  assert.equal(log.orders, [...range(0, onePast), ...range(onePast + 1, onePast + 2, "b")]);
});

test("reconcile: malformed input is refused, request ids stay unique", () => {
  const log = new MemLog(range(0, 2));
  const describeR = (orders: OrderRecord[], mode: "follow" | "extend" = "follow"): string => describe(reconcile(log, orders, mode));
  assert.is(describeR([order(3), order(5)]), "refuse INVALID_ARGUMENT");
  assert.is(describeR([{ ...order(3), quantity: 0 }]), "refuse INVALID_ARGUMENT");
  assert.is(describeR([{ ...order(3), requestId: "a-1" }]), "refuse DIVERGED");
  assert.is(describeR([order(3, "x"), { ...order(4, "x"), requestId: "x-3" }]), "refuse INVALID_ARGUMENT");
  // A dropped divergent order's request id may come back at another number.
  assert.is(describeR([order(2, "b"), { ...order(3, "b"), requestId: "a-2" }]), "persist truncate=2 append=2..3");
  assert.is(describeR(range(1, 4)), "persist truncate=- append=3..4");
});

test("reconcile extend: only orders after ours, a disagreement refuses the source", () => {
  const log = new MemLog(range(0, 4));
  assert.is(describe(reconcile(log, range(2, 6), "extend")), "persist truncate=- append=5..6");
  assert.is(describe(reconcile(log, range(3, 6, "b"), "extend")), "refuse DIVERGED");
  assert.is(describe(reconcile(log, range(0, 2), "extend")), "persist truncate=- append=none");
});

test("catch-up and pull start early enough to cover a deposed leader's batch", () => {
  assert.is(catchUpStart(-1, -1), 0);
  assert.is(catchUpStart(10, 1_000), 0);
  assert.is(catchUpStart(1_000, 5_000), 1_001 - divergenceOrdersMax);
  // A follower ahead of the leader (a deposed leader's tail): compare up to the leader's last.
  assert.is(catchUpStart(5_000, 1_000), 1_001 - divergenceOrdersMax);
  assert.is(pullStart(-1), -1);
  assert.is(pullStart(3), -1);
  assert.is(pullStart(2_000), 2_000 - divergenceOrdersMax);
});

test("Since pages are bounded and validated", () => {
  const log = new MemLog(range(0, sincePageMax + 10));
  assert.equal(span(sincePage(log, -1, 3) as OrderRecord[]), "0..2");
  assert.is((sincePage(log, -1, 0) as OrderRecord[]).length, sincePageMax);
  assert.is((sincePage(log, 5, 10 * sincePageMax) as OrderRecord[]).length, sincePageMax);
  assert.equal(sincePage(log, sincePageMax + 10, 5), []);
  assert.is(describe(sincePage(log, -2, 5) as { kind: "refuse"; code: string }), "refuse INVALID_ARGUMENT");
});

function health(over: Partial<HealthReply>): HealthReply {
  return { id: 0, lastNumber: -1, epoch: 0, leaderId: 0, ready: true, liveFollowers: [], ...over };
}

test("recovery plan: follow the live leader of the newest epoch, then extend from the others", () => {
  const plan = planRecovery(1, [
    { id: 2, health: health({ id: 2, epoch: 2, leaderId: 3, lastNumber: 40 }) },
    { id: 3, health: health({ id: 3, epoch: 2, leaderId: 3, lastNumber: 38 }) },
  ]);
  assert.equal(plan, { epoch: 2, leaderId: 3, sources: [{ id: 3, mode: "follow" }, { id: 2, mode: "extend" }] });
});

test("recovery plan: no live leader, or the peers name us, means extend only", () => {
  const named = planRecovery(3, [
    { id: 1, health: health({ id: 1, epoch: 4, leaderId: 3, lastNumber: 10 }) },
    { id: 2, health: health({ id: 2, epoch: 4, leaderId: 3, lastNumber: 12 }) },
  ]);
  assert.equal(named, { epoch: 4, leaderId: 0, sources: [{ id: 2, mode: "extend" }, { id: 1, mode: "extend" }] });
  const leaderDown = planRecovery(1, [{ id: 2, health: health({ id: 2, epoch: 2, leaderId: 3, lastNumber: 7 }) }]);
  assert.equal(leaderDown, { epoch: 2, leaderId: 3, sources: [{ id: 2, mode: "extend" }] });
  assert.equal(planRecovery(1, []), { epoch: 0, leaderId: 0, sources: [] });
  const r = new ReplicaState(1, [1, 2, 3]);
  r.adopt(leaderDown);
  assert.equal([r.epoch, r.leaderId, r.role], [2, 3, "follower"]);
});

test.run();
