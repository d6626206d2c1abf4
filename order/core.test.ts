// Scenario tests of the protocol core (core.ts) with no sockets, disks or timers: each test
// feeds inputs to ReplicaCore instances by hand, in the order it wants, and checks the actions
// that come out (what is written, sent, called and answered, and when). The seeded simulator
// (sim/) explores schedules; these pin the rules one by one.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { Side, TradeStatus } from "../gen/catalog.ts";
import type { TradeBatchRequest, TradeReply } from "../gen/catalog.ts";
import { AppendOutcome, OrderSide, PlaceStatus } from "../gen/order.ts";
import type { AppendReply, AppendRequest, OrderRecord, PlaceRequest, VoteReply, VoteRequest } from "../gen/order.ts";
import { ReplicaCore } from "./core.ts";
import type { Action, CallResult, Vote } from "./core.ts";
import * as limits from "./limits.ts";

const ids = [1, 2, 3];
const noVote: Vote = { epoch: 0, votedFor: 0 };

function core(id: number, log: OrderRecord[] = [], vote: Vote = noVote): ReplicaCore {
  return new ReplicaCore({ id, ids, log, vote, now: 0 });
}

function order(number: number, epoch: number, requestId = `r${number}`): OrderRecord {
  return { number, epoch, requestId, name: "GameStart", side: OrderSide.ORDER_SIDE_BUY, quantity: 1 };
}

function place(requestId: string, quantity = 1): PlaceRequest {
  return { requestId, name: "GameStart", side: OrderSide.ORDER_SIDE_BUY, quantity };
}

const of = <K extends Action["kind"]>(actions: Action[], kind: K): Extract<Action, { kind: K }>[] =>
  actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === kind);

function replyTo(actions: Action[], call: number): CallResult | undefined {
  return of(actions, "reply").find((r) => r.call === call)?.result;
}

/** Make every persist in `actions` durable at once, as a disk would report it; returns what that produced. */
function durable(c: ReplicaCore, actions: Action[], now = 0): Action[] {
  const out: Action[] = [];
  for (const a of of(actions, "persistVote")) out.push(...c.step({ kind: "voteDurable", vote: a.vote }, now));
  for (const a of of(actions, "persistLog")) {
    out.push(...c.step({ kind: "logDurable", upTo: (a.orders[a.orders.length - 1] as OrderRecord).number }, now));
  }
  return out;
}

/** A voter answers a vote request, its vote made durable; returns the reply. */
function vote(voter: ReplicaCore, request: VoteRequest, call = 900): VoteReply {
  const first = voter.step({ kind: "voteRequest", call, request }, 0);
  const all = [...first, ...durable(voter, first)];
  const r = replyTo(all, call);
  assert.ok(r?.ok, "a vote request is answered");
  return (r as { ok: true; value: VoteReply }).value;
}

/** A follower answers an Append, its writes made durable; returns the reply. */
function append(follower: ReplicaCore, request: AppendRequest, call = 800): AppendReply {
  const first = follower.step({ kind: "append", call, request }, 0);
  const all = [...first, ...durable(follower, first)];
  const r = replyTo(all, call);
  assert.ok(r?.ok, "an Append is answered");
  return (r as { ok: true; value: AppendReply }).value;
}

/** Elect `leader` in `epoch` with the votes of `voters`; returns its actions after winning. */
function elect(leader: ReplicaCore, epoch: number, voters: ReplicaCore[]): Action[] {
  const start = leader.step({ kind: "setLeader", call: 1, leaderId: leader.id, epoch }, 0);
  const out = [...start, ...durable(leader, start)];
  for (const req of of(start, "sendVote")) {
    const voter = voters.find((v) => v.id === req.to);
    if (voter) out.push(...leader.step({ kind: "voteReply", from: voter.id, reply: vote(voter, req.request) }, 0));
  }
  return out;
}

test("a candidate leads once a majority voted durably, its own vote counted only once on disk", () => {
  const c3 = core(3);
  const start = c3.step({ kind: "setLeader", call: 1, leaderId: 3, epoch: 1 }, 0);
  assert.equal(of(start, "persistVote").map((a) => a.vote), [{ epoch: 1, votedFor: 3 }]);
  assert.equal(of(start, "sendVote").map((a) => a.to).sort(), [1, 2]);
  // Replica 1's vote arrives before our own vote is on disk: not leader yet.
  c3.step({ kind: "voteReply", from: 1, reply: { epoch: 1, granted: true } }, 0);
  assert.is(c3.role, "candidate");
  const won = durable(c3, start);
  assert.is(c3.role, "leader");
  // An empty log is committed at once: SetLeader answers now, and probes go to both followers.
  assert.equal(replyTo(won, 1), { ok: true, value: { epoch: 1, lastNumber: -1 } });
  assert.equal(of(won, "sendAppend").map((a) => a.to).sort(), [1, 2]);
});

test("a voter grants only once its vote is durable, once per epoch, and only to an up-to-date log", () => {
  const voter = core(1, [order(0, 1), order(1, 1)], { epoch: 1, votedFor: 3 });
  const asked = voter.step({ kind: "voteRequest", call: 7, request: { epoch: 2, candidateId: 2, lastNumber: 1, lastEpoch: 1 } }, 0);
  assert.is(replyTo(asked, 7), undefined, "no grant before the vote is on disk");
  assert.equal(replyTo(durable(voter, asked), 7), { ok: true, value: { epoch: 2, granted: true } });
  // Another candidate in the same epoch: refused.
  assert.equal(vote(voter, { epoch: 2, candidateId: 3, lastNumber: 5, lastEpoch: 2 }), { epoch: 2, granted: false });
  // A newer epoch, but a candidate whose log lacks our order 1: refused; a later last epoch wins.
  assert.equal(vote(voter, { epoch: 3, candidateId: 3, lastNumber: 0, lastEpoch: 1 }), { epoch: 3, granted: false });
  assert.equal(vote(voter, { epoch: 4, candidateId: 3, lastNumber: 0, lastEpoch: 2 }), { epoch: 4, granted: true });
  // An older epoch: refused, with ours in the reply.
  assert.equal(vote(voter, { epoch: 1, candidateId: 2, lastNumber: 9, lastEpoch: 9 }), { epoch: 4, granted: false });
});

test("a restarted candidate that lost its undurable vote cannot make a second leader in the epoch", () => {
  // Replica 3 campaigns in epoch 5, replica 1 votes for it, then 3 crashes before its own vote
  // reached the disk. Replica 2 campaigns in the same epoch: 1 refuses (voted), so 2 cannot win
  // with its own vote and the restarted 3's.
  const c1 = core(1);
  const first = core(3);
  const start = first.step({ kind: "setLeader", call: 1, leaderId: 3, epoch: 5 }, 0);
  const req = of(start, "sendVote").find((a) => a.to === 1);
  assert.ok(req);
  assert.is(vote(c1, req.request).granted, true);
  const restarted = core(3); // its durable vote is still epoch 0
  const c2 = core(2);
  const campaign = c2.step({ kind: "setLeader", call: 2, leaderId: 2, epoch: 5 }, 0);
  durable(c2, campaign);
  for (const r of of(campaign, "sendVote")) {
    const voter = r.to === 1 ? c1 : restarted;
    c2.step({ kind: "voteReply", from: r.to, reply: vote(voter, r.request) }, 0);
  }
  assert.is(c2.role, "leader", "2 wins with the restarted 3's vote: 3 never granted anything in epoch 5");
  // ...but 3 itself can no longer lead epoch 5: its one voter is taken.
  const again = restarted.step({ kind: "setLeader", call: 3, leaderId: 3, epoch: 5 }, 0);
  assert.equal(replyTo(again, 3)?.ok, false);
});

type Trio = { leader: ReplicaCore; f1: ReplicaCore; f2: ReplicaCore };

/** Replica 3 elected in epoch 1 with 1 and 2 following: probes answered, the catalog in step. */
function trio(): Trio {
  const f1 = core(1);
  const f2 = core(2);
  const leader = core(3);
  const won = elect(leader, 1, [f1, f2]);
  for (const a of of(won, "sendAppend")) {
    leader.step({ kind: "appendReply", from: a.to, reply: append(a.to === 1 ? f1 : f2, a.request) }, 0);
  }
  const sync = of(won, "callCatalog");
  assert.equal(sync.map((a) => a.request.trades.length), [0], "a new leader first syncs with the catalog");
  leader.step({
    kind: "catalogReply",
    call: (sync[0] as { call: number }).call,
    reply: { results: [], missing: [], lastNumber: -1, durableMs: 0 },
  }, 0);
  return { leader, f1, f2 };
}

function ok(reply: TradeReply["status"], number: number): TradeReply {
  return { status: reply, stock: undefined, message: "", number };
}

test("a Place is sent to the catalog, numbered by it, and answered only once a majority holds it durably", () => {
  const { leader, f1 } = trio();
  const placed = leader.step({ kind: "place", orders: [{ call: 10, request: place("a") }, { call: 11, request: place("b") }] }, 0);
  const calls = of(placed, "callCatalog");
  assert.is(calls.length, 1, "one batch for the orders that arrived together");
  const call = calls[0] as { call: number; request: TradeBatchRequest };
  assert.equal({ ...call.request, trades: call.request.trades.map((t) => t.requestId) }, {
    trades: ["a", "b"],
    epoch: 1,
    leaderId: 3,
    afterNumber: -1,
    commitNumber: -1,
  });
  const numbered = leader.step({
    kind: "catalogReply",
    call: call.call,
    reply: { results: [ok(TradeStatus.TRADE_OK, 0), ok(TradeStatus.TRADE_OK, 1)], missing: [], lastNumber: 1, durableMs: 0 },
  }, 0);
  assert.equal(of(numbered, "persistLog").map((a) => a.orders.map((o) => `${o.number}:${o.requestId}@${o.epoch}`)), [["0:a@1", "1:b@1"]]);
  const appends = of(numbered, "sendAppend");
  assert.is(appends.length, 2, "the batch goes to both followers at once");
  assert.is(of(numbered, "reply").length, 0);
  // Our own disk alone is not a majority.
  assert.is(of(durable(leader, numbered), "reply").length, 0);
  const toF1 = appends.find((a) => a.to === 1) as { request: AppendRequest };
  const answered = leader.step({ kind: "appendReply", from: 1, reply: append(f1, toF1.request) }, 0);
  assert.equal(of(answered, "reply").map((r) => [r.call, r.result]), [
    [10, { ok: true, value: { status: PlaceStatus.PLACE_OK, number: 0, message: "" } }],
    [11, { ok: true, value: { status: PlaceStatus.PLACE_OK, number: 1, message: "" } }],
  ]);
  assert.is(leader.commit, 1);
});

test("a request id is traded once: in flight it joins the batch, numbered it is answered from the log", () => {
  const { leader, f1 } = trio();
  const first = leader.step({ kind: "place", orders: [{ call: 10, request: place("a") }] }, 0);
  const call = of(first, "callCatalog")[0] as { call: number };
  const again = leader.step({ kind: "place", orders: [{ call: 11, request: place("a") }] }, 0);
  assert.is(of(again, "callCatalog").length, 0, "no second trade while the first is at the catalog");
  const numbered = leader.step({
    kind: "catalogReply",
    call: call.call,
    reply: { results: [ok(TradeStatus.TRADE_OK, 0)], missing: [], lastNumber: 0, durableMs: 0 },
  }, 0);
  durable(leader, numbered);
  const toF1 = of(numbered, "sendAppend").find((a) => a.to === 1) as { request: AppendRequest };
  const done = leader.step({ kind: "appendReply", from: 1, reply: append(f1, toF1.request) }, 0);
  assert.equal(of(done, "reply").map((r) => r.call).sort(), [10, 11]);
  const later = leader.step({ kind: "place", orders: [{ call: 12, request: place("a") }, { call: 13, request: place("a", 5) }] }, 0);
  assert.is(of(later, "callCatalog").length, 0);
  assert.equal(replyTo(later, 12), { ok: true, value: { status: PlaceStatus.PLACE_OK, number: 0, message: "" } });
  assert.equal(
    (replyTo(later, 13) as { value: { status: number } }).value.status,
    PlaceStatus.PLACE_INVALID,
    "a reused id for another order",
  );
});

test("trades the catalog numbered beyond our log are adopted, replicated, and answer their retries", () => {
  const { leader } = trio();
  const placed = leader.step({ kind: "place", orders: [{ call: 10, request: place("retry") }, { call: 11, request: place("new") }] }, 0);
  const call = of(placed, "callCatalog")[0] as { call: number };
  // A crashed leader of epoch 1... here: the catalog already numbered 0 (another leader's) and 1 ("retry").
  const missing = [
    { number: 0, epoch: 1, requestId: "old", name: "GameStart", side: Side.SIDE_SELL, quantity: 3 },
    { number: 1, epoch: 1, requestId: "retry", name: "GameStart", side: Side.SIDE_BUY, quantity: 1 },
  ];
  const adopted = leader.step({ kind: "catalogReply", call: call.call, reply: { results: [], missing, lastNumber: 1, durableMs: 0 } }, 0);
  assert.equal(of(adopted, "persistLog").map((a) => a.orders.map((o) => `${o.number}:${o.requestId}@${o.epoch}`)), [[
    "0:old@1",
    "1:retry@1",
  ]]);
  const resent = of(adopted, "callCatalog");
  assert.is(resent.length, 1);
  assert.equal(resent[0]?.request.trades.map((t) => t.requestId), ["new"], "the adopted id is not traded again");
  assert.is(resent[0]?.request.afterNumber, 1);
});

test("a catalog call with an unknown outcome fails its callers; the next call re-syncs first", () => {
  const { leader } = trio();
  const placed = leader.step({ kind: "place", orders: [{ call: 10, request: place("a") }] }, 0);
  const call = of(placed, "callCatalog")[0] as { call: number };
  const failed = leader.step({ kind: "catalogFailed", call: call.call, refusal: undefined, message: "DEADLINE_EXCEEDED" }, 0);
  assert.equal(replyTo(failed, 10)?.ok, false);
  assert.equal((replyTo(failed, 10) as { error: { code: string } }).error.code, "UNAVAILABLE");
  // After the backoff an empty TradeBatch goes out even with nothing queued: it finds orphans.
  const later = leader.step({ kind: "tick" }, limits.catalogRetryMsMax);
  assert.equal(of(later, "callCatalog").map((a) => a.request.trades.length), [0]);
});

test("a catalog that knows a newer epoch deposes the leader; its callers get NOT_LEADER", () => {
  const { leader } = trio();
  const placed = leader.step({ kind: "place", orders: [{ call: 10, request: place("a") }] }, 0);
  const call = of(placed, "callCatalog")[0] as { call: number };
  const out = leader.step({ kind: "catalogFailed", call: call.call, refusal: "stale", message: "epoch 1 is older than 2" }, 0);
  assert.is(leader.role, "follower");
  assert.equal((replyTo(out, 10) as { error: { code: string } }).error.code, "NOT_LEADER");
});

test("a follower checks the order before new ones, never truncates, and acks only what is durable", () => {
  const f = core(1, [order(0, 1), order(1, 1)], { epoch: 1, votedFor: 2 });
  const base = { epoch: 2, leaderId: 2, commitNumber: 0 };
  assert.is(append(f, { ...base, prevNumber: 5, prevEpoch: 2, orders: [] }).outcome, AppendOutcome.APPEND_GAP);
  assert.is(
    append(f, { ...base, prevNumber: 1, prevEpoch: 2, orders: [] }).outcome,
    AppendOutcome.APPEND_DIVERGED,
    "order 1 is epoch 1 here",
  );
  assert.is(append(f, { ...base, prevNumber: 0, prevEpoch: 1, orders: [order(1, 2, "other")] }).outcome, AppendOutcome.APPEND_DIVERGED);
  assert.is(f.lastNumber, 1, "nothing truncated");
  const acted = f.step({ kind: "append", call: 5, request: { ...base, prevNumber: 1, prevEpoch: 1, orders: [order(2, 2)] } }, 0);
  assert.is(replyTo(acted, 5), undefined, "no ack before the order is on disk");
  assert.equal(replyTo(durable(f, acted), 5), {
    ok: true,
    value: { outcome: AppendOutcome.APPEND_OK, epoch: 2, lastNumber: 2, matchNumber: 2 },
  });
  assert.is(
    append(f, { epoch: 1, leaderId: 3, commitNumber: 0, prevNumber: 2, prevEpoch: 2, orders: [] }).outcome,
    AppendOutcome.APPEND_STALE_EPOCH,
  );
});

test("a leader probes a follower that is behind and sends it what it lacks", () => {
  const f1 = core(1);
  const f2 = core(2);
  const leader = core(3, [order(0, 1), order(1, 1), order(2, 1)], { epoch: 1, votedFor: 3 });
  for (const f of [f1, f2]) {
    const acted = f.step({
      kind: "append",
      call: 1,
      request: { epoch: 1, leaderId: 3, commitNumber: -1, prevNumber: -1, prevEpoch: 0, orders: [order(0, 1)] },
    }, 0);
    durable(f, acted);
  }
  const won = elect(leader, 2, [f1, f2]);
  const probe = of(won, "sendAppend").find((a) => a.to === 1) as { request: AppendRequest };
  assert.is(probe.request.prevNumber, 2);
  const gap = append(f1, probe.request);
  assert.is(gap.outcome, AppendOutcome.APPEND_GAP);
  const next = leader.step({ kind: "appendReply", from: 1, reply: gap }, 0);
  const resend = of(next, "sendAppend").find((a) => a.to === 1) as { request: AppendRequest };
  assert.equal([resend.request.prevNumber, resend.request.orders.map((o) => o.number)], [0, [1, 2]]);
  const caughtUp = leader.step({ kind: "appendReply", from: 1, reply: append(f1, resend.request) }, 0);
  assert.is(f1.lastNumber, 2);
  assert.is(leader.commit, 2, "the new leader's log is committed once a majority holds it");
  assert.equal(replyTo(caughtUp, 1), { ok: true, value: { epoch: 2, lastNumber: 2 } }, "SetLeader answers once ready");
});

test("without a majority an order is answered UNAVAILABLE within placeWaitMsMax, never OK", () => {
  const { leader } = trio();
  const placed = leader.step({ kind: "place", orders: [{ call: 10, request: place("a") }] }, 0);
  const call = of(placed, "callCatalog")[0] as { call: number };
  durable(
    leader,
    leader.step(
      {
        kind: "catalogReply",
        call: call.call,
        reply: { results: [ok(TradeStatus.TRADE_OK, 0)], missing: [], lastNumber: 0, durableMs: 0 },
      },
      0,
    ),
  );
  let answered: CallResult | undefined;
  for (let t = 0; t <= limits.placeWaitMsMax && !answered; t += limits.tickMs) {
    for (const from of [1, 2]) leader.step({ kind: "peerFailed", from }, t);
    answered = replyTo(leader.step({ kind: "tick" }, t), 10);
  }
  assert.equal(answered?.ok, false);
  assert.is(leader.commit, -1);
});

test("after a disk failure nothing more is acknowledged and the replica is not ready", () => {
  const f = core(1);
  const acted = f.step({
    kind: "append",
    call: 1,
    request: { epoch: 1, leaderId: 3, commitNumber: -1, prevNumber: -1, prevEpoch: 0, orders: [order(0, 1)] },
  }, 0);
  const failed = f.step({ kind: "diskFailed", message: "ENOSPC" }, 0);
  assert.equal((replyTo(failed, 1) as { ok: boolean }).ok, false, "the held ack fails");
  assert.is(of(durable(f, acted), "reply").length, 0, "a late completion acknowledges nothing");
  assert.is(f.health().ready, false);
  const voted = f.step({ kind: "voteRequest", call: 2, request: { epoch: 2, candidateId: 2, lastNumber: 0, lastEpoch: 1 } }, 0);
  assert.equal((replyTo(voted, 2) as { ok: boolean }).ok, false);
});

test("one leader per epoch: SetLeader for an epoch led by another replica is refused", () => {
  const { f1 } = trio();
  const out = f1.step({ kind: "setLeader", call: 4, leaderId: 1, epoch: 1 }, 0);
  assert.equal((replyTo(out, 4) as { error: { code: string } }).error.code, "STALE_EPOCH");
});

test.run();
