// The replica's grpc.health.v1 rule (server.ts): a follower that lacks orders below the leader's
// commit point is catching up and NOT_SERVING; only Appends answered OK or GAP (well-formed, from
// the followed leader) move the commit point it knows; a leader or a candidate is never "behind".

import { test } from "uvu";
import * as assert from "uvu/assert";
import { AppendOutcome } from "../gen/order.ts";
import type { AppendReply, AppendRequest, HealthReply } from "../gen/order.ts";
import { CatchUp, replicaServing } from "./server.ts";

function health(fields: Partial<HealthReply>): HealthReply {
  const base = { id: 2, lastNumber: 9, epoch: 3, leaderId: 1, ready: true, liveFollowers: [], lastEpoch: 3, role: "follower" };
  return { ...base, commitNumber: 9, ...fields };
}

function append(commitNumber: number): AppendRequest {
  return { epoch: 3, leaderId: 1, orders: [], prevNumber: 9, prevEpoch: 3, commitNumber };
}

function reply(outcome: AppendOutcome): AppendReply {
  return { outcome, epoch: 3, lastNumber: 9, matchNumber: 9 };
}

test("a follower behind the leader's commit point is catching up, and serves again once it holds it", () => {
  const catchUp = new CatchUp();
  assert.ok(replicaServing(health({}), catchUp), "no Append yet: nothing known to lack");
  catchUp.observe(append(25), reply(AppendOutcome.APPEND_GAP));
  assert.is(catchUp.behind(health({ lastNumber: 9 })), 16);
  assert.not.ok(replicaServing(health({ lastNumber: 9 }), catchUp));
  assert.is(catchUp.behind(health({ lastNumber: 25 })), 0);
  assert.ok(replicaServing(health({ lastNumber: 25 }), catchUp));
});

test("only OK and GAP answers move the known commit point, and it never goes back", () => {
  const catchUp = new CatchUp();
  catchUp.observe(append(50), reply(AppendOutcome.APPEND_STALE_EPOCH));
  catchUp.observe(append(50), reply(AppendOutcome.APPEND_DIVERGED));
  assert.is(catchUp.leaderCommit, -1, "a deposed or impossible leader says nothing");
  catchUp.observe(append(20), reply(AppendOutcome.APPEND_OK));
  catchUp.observe(append(12), reply(AppendOutcome.APPEND_OK));
  assert.is(catchUp.leaderCommit, 20);
});

test("a leader or a candidate is never behind; not ready is never serving", () => {
  const catchUp = new CatchUp();
  catchUp.observe(append(99), reply(AppendOutcome.APPEND_OK));
  assert.is(catchUp.behind(health({ role: "leader" })), 0);
  assert.ok(replicaServing(health({ role: "leader", lastNumber: 99 }), catchUp));
  assert.not.ok(replicaServing(health({ role: "candidate", ready: false, lastNumber: 99 }), catchUp));
  assert.not.ok(replicaServing(health({ ready: false, lastNumber: 99 }), catchUp), "a follower whose disk failed");
});

test.run();
