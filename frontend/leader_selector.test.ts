// Leader selection against fake order replicas served over real gRPC. Each fake answers Health
// from a small state a case sets (role, epochs, log position, down) and SetLeader by becoming the
// leader of that epoch (its peers that are up follow it, as their votes would), unless told to
// refuse or to stay establishing. Every SetLeader received is recorded, in order across replicas.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrderService } from "../gen/order.ts";
import type { HealthReply, SetLeaderReply, SetLeaderRequest } from "../gen/order.ts";
import { bindServer, grpc } from "../lib/grpc.ts";
import { Logger } from "../lib/log.ts";
import type { LogFields } from "../lib/log.ts";
import { waitFor } from "../test/support/wait.ts";
import { freePort } from "../lib/service_process.ts";
import { ApiError } from "./errors.ts";
import { LeaderSelector } from "./leader_selector.ts";
import type { LeaderSelectorOptions, ReplicaHandle } from "./leader_selector.ts";
import { leaderWarnIntervalMs } from "./limits.ts";

type Line = { readonly level: "info" | "warn"; readonly msg: string; readonly fields: LogFields | undefined };

/** Keeps the lines a case asserts on instead of writing them. */
class RecordingLogger extends Logger {
  readonly lines: Line[] = [];
  constructor() {
    super("leader-selector-test", {}, "silent");
  }
  override info(msg: string, fields?: LogFields): void {
    this.lines.push({ level: "info", msg, fields });
  }
  override warn(msg: string, fields?: LogFields): void {
    this.lines.push({ level: "warn", msg, fields });
  }
  of(level: Line["level"]): Line[] {
    return this.lines.filter((l) => l.level === level);
  }
}

type Role = "leader" | "candidate" | "follower";

type FakeReplica = {
  readonly id: number;
  port: number;
  epoch: number;
  leaderId: number;
  role: Role;
  ready: boolean;
  lastNumber: number;
  lastEpoch: number;
  /** SetLeader calls still to fail with UNAVAILABLE, as a campaign that found no majority in time. */
  refusals: number;
  /** On SetLeader, become leader but stay establishing (not ready, no answer) until `finishEstablishing`. */
  establishSlowly: boolean;
  /** SetLeader answers held until the replica is ready. */
  pending: (() => void)[];
  healthCalls: number;
  server: grpc.Server | undefined;
};

type SetLeaderCall = { readonly to: number } & SetLeaderRequest;

class FakeReplicas {
  readonly calls: SetLeaderCall[] = [];
  readonly replicas = new Map<number, FakeReplica>();
  private readonly selectors: LeaderSelector[] = [];

  static async start(ids: readonly number[]): Promise<FakeReplicas> {
    const fakes = new FakeReplicas();
    for (const id of ids) {
      // A port from freePort, so a replica brought back binds it again (see freePort).
      const replica: FakeReplica = {
        id,
        port: await freePort(),
        epoch: 0,
        leaderId: 0,
        role: "follower",
        ready: true,
        lastNumber: -1,
        lastEpoch: 0,
        refusals: 0,
        establishSlowly: false,
        pending: [],
        healthCalls: 0,
        server: undefined,
      };
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
    const endStream = (call: grpc.ServerDuplexStream<unknown, unknown>): void => {
      call.end();
    };
    server.addService(OrderService, {
      place: unimplemented,
      placeBatch: unimplemented,
      get: unimplemented,
      requestVote: unimplemented,
      append: unimplemented,
      placeBatches: endStream,
      appends: endStream,
      health: (_call: unknown, callback: grpc.sendUnaryData<HealthReply>) => {
        replica.healthCalls++;
        callback(null, healthOf(replica));
      },
      setLeader: (call: grpc.ServerUnaryCall<SetLeaderRequest, SetLeaderReply>, callback: grpc.sendUnaryData<SetLeaderReply>) =>
        this.setLeader(replica, call.request, callback),
    } as unknown as grpc.UntypedServiceImplementation);
    replica.port = await bindServer(server, "127.0.0.1", replica.port);
    replica.server = server;
  }

  /** A campaign, as far as the frontend can see one: the rules of protos/order.proto's SetLeader. */
  private setLeader(replica: FakeReplica, request: SetLeaderRequest, callback: grpc.sendUnaryData<SetLeaderReply>): void {
    const { leaderId, epoch } = request;
    this.calls.push({ to: replica.id, leaderId, epoch });
    const answer = (): void => callback(null, { epoch, lastNumber: replica.lastNumber });
    if (leaderId !== replica.id) return callback({ code: grpc.status.INVALID_ARGUMENT, details: "SetLeader names another replica" });
    if (epoch === replica.epoch && replica.role === "leader" && replica.leaderId === replica.id) {
      // The same campaign asked for twice (by another frontend): answered like the first.
      return replica.ready ? answer() : void replica.pending.push(answer);
    }
    if (epoch <= replica.epoch) {
      return callback({ code: grpc.status.FAILED_PRECONDITION, details: `epoch ${epoch} is not above ${replica.epoch}` });
    }
    replica.epoch = epoch;
    if (replica.refusals > 0) {
      replica.refusals--;
      Object.assign(replica, { role: "follower", leaderId: 0, ready: true });
      return callback({ code: grpc.status.UNAVAILABLE, details: "no majority in time" });
    }
    Object.assign(replica, { role: "leader", leaderId: replica.id, ready: !replica.establishSlowly });
    for (const peer of this.replicas.values()) {
      if (peer === replica || !peer.server || peer.epoch >= epoch) continue;
      Object.assign(peer, { epoch, leaderId: replica.id, role: "follower", ready: true });
    }
    if (replica.ready) answer();
    else replica.pending.push(answer);
  }

  /** `id` leads `epoch` (ready unless `establishing`); every other replica follows it. */
  lead(id: number, epoch: number, establishing = false): void {
    for (const r of this.replicas.values()) {
      Object.assign(r, { epoch, leaderId: id, role: r.id === id ? "leader" : "follower", ready: true });
    }
    this.get(id).ready = !establishing;
  }

  /** The establishing leader is ready: its held SetLeader answers go out. */
  finishEstablishing(id: number): void {
    const replica = this.get(id);
    replica.ready = true;
    for (const answer of replica.pending.splice(0)) answer();
  }

  /** Gone at once, as after SIGKILL: connections are refused. */
  down(id: number): void {
    const replica = this.get(id);
    replica.server?.forceShutdown();
    replica.server = undefined;
    replica.pending.length = 0;
  }

  selector(options: LeaderSelectorOptions = {}, log: Logger = new RecordingLogger()): LeaderSelector {
    const replicas = [...this.replicas.values()].map((r) => ({ id: r.id, addr: { host: "127.0.0.1", port: r.port } }));
    const selector = new LeaderSelector(replicas, log, options);
    this.selectors.push(selector);
    return selector;
  }

  stop(): void {
    for (const selector of this.selectors) selector.close();
    for (const id of this.replicas.keys()) this.down(id);
  }
}

function healthOf(r: FakeReplica): HealthReply {
  return {
    id: r.id,
    lastNumber: r.lastNumber,
    epoch: r.epoch,
    leaderId: r.leaderId,
    ready: r.ready,
    liveFollowers: [],
    lastEpoch: r.lastEpoch,
    role: r.role,
    commitNumber: r.lastNumber,
  };
}

async function withReplicas(ids: readonly number[], body: (fakes: FakeReplicas) => Promise<void>): Promise<void> {
  const fakes = await FakeReplicas.start(ids);
  try {
    await body(fakes);
  } finally {
    fakes.stop();
  }
}

const times = <T>(n: number, f: () => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, f));
const ids = (leaders: readonly ReplicaHandle[]): number[] => [...new Set(leaders.map((l) => l.id))];
const sent = (fakes: FakeReplicas): number[][] => fakes.calls.map((c) => [c.to, c.leaderId, c.epoch]);

test("a live ready leader is adopted as it is, by every frontend that starts, stops or reselects under load", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    fakes.lead(2, 4);
    const log = new RecordingLogger();
    const first = fakes.selector({}, log);
    const leader = await first.current();
    assert.equal([leader.id, first.currentEpoch(), first.elections], [2, 4, 0], "not the highest id, but it leads: adopted");
    await Promise.all([
      // Requests on the first frontend that saw a transient failure and reselect.
      ...Array.from({ length: 5 }, async () => assert.equal(ids(await times(10, () => first.reselect(leader))), [2])),
      // Frontends started and stopped meanwhile.
      ...Array.from({ length: 3 }, async () => {
        const other = fakes.selector();
        assert.equal(ids(await times(10, () => other.current())), [2]);
        assert.is(other.elections, 0);
        other.close();
      }),
    ]);
    assert.equal(sent(fakes), [], "no SetLeader while the leader is live and ready");
    assert.is(first.elections, 0);
    assert.ok(await first.stillLeading(await first.current()));
    assert.is(log.of("info").filter((l) => l.msg === "order leader changed").length, 1, "the change is logged once, not per re-adoption");
  }));

test("no leader: the highest id whose log is as up to date as a majority's campaigns, in the newest epoch seen + 1", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    Object.assign(fakes.get(1), { epoch: 4, lastNumber: 9, lastEpoch: 2 });
    Object.assign(fakes.get(2), { epoch: 3, lastNumber: 9, lastEpoch: 2 });
    Object.assign(fakes.get(3), { epoch: 2, lastNumber: 5, lastEpoch: 2 });
    const selector = fakes.selector();
    const leader = await selector.current();
    assert.equal([leader.id, selector.currentEpoch(), selector.elections], [2, 5, 1]);
    assert.equal(sent(fakes), [[2, 2, 5]], "one SetLeader, to the candidate only; replica 3's log is shorter than a majority's");
    // With 2 gone, 3 still has the highest id, but only 1's log is as up to date as a majority's.
    fakes.down(2);
    const next = await selector.reselect(leader);
    assert.equal([next.id, selector.currentEpoch(), selector.elections], [1, 6, 2]);
    assert.equal(sent(fakes), [[2, 2, 5], [1, 1, 6]]);
  }));

test("a candidate that finds no majority is asked again in a newer epoch, and then leads", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    fakes.get(3).refusals = 1;
    const log = new RecordingLogger();
    const selector = fakes.selector({}, log);
    const leader = await selector.current();
    assert.equal([leader.id, selector.currentEpoch(), selector.elections], [3, 2, 1]);
    assert.equal(sent(fakes), [[3, 3, 1], [3, 3, 2]]);
    assert.equal(log.of("warn").map((l) => [l.msg, l.fields?.["candidate"]]), [["leader candidate refused or failed SetLeader", 3]]);
  }));

test("an establishing leader is waited for, not replaced, and adopted once ready", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    fakes.lead(2, 4, true);
    const selector = fakes.selector({ establishWaitMs: 60_000 });
    const selected = selector.current();
    const polled = fakes.get(2).healthCalls;
    await waitFor(() => fakes.get(2).healthCalls >= polled + 3, 5_000, "several Health rounds while it establishes");
    assert.equal(sent(fakes), [], "no election over an establishing leader");
    fakes.finishEstablishing(2);
    const leader = await selected;
    assert.equal([leader.id, selector.currentEpoch(), selector.elections], [2, 4, 0]);
  }));

test("an establishing leader that stays unready past the patience is replaced in a newer epoch", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    fakes.lead(2, 4, true);
    const selector = fakes.selector({ establishWaitMs: 50 });
    const leader = await selector.current();
    assert.equal([leader.id, selector.currentEpoch(), selector.elections], [3, 5, 1]);
    assert.equal(sent(fakes), [[3, 3, 5]]);
    assert.ok(fakes.get(2).healthCalls >= 2, "it was waited for first");
  }));

test("two frontends, many concurrent reselects: one SetLeader per leader change, the other frontend adopts", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    const [a, b] = [fakes.selector(), fakes.selector()];
    // Both frontends start while replica 3's campaign is under way: b waits for it.
    fakes.get(3).establishSlowly = true;
    const firstA = times(20, () => a.current());
    await waitFor(() => fakes.calls.length === 1, 5_000, "frontend a's SetLeader");
    const firstB = times(20, () => b.current());
    const polled = fakes.get(3).healthCalls;
    await waitFor(() => fakes.get(3).healthCalls >= polled + 2, 5_000, "frontend b polling the establishing leader");
    fakes.finishEstablishing(3);
    const [leadersA, leadersB] = [await firstA, await firstB];
    assert.equal([ids(leadersA), ids(leadersB)], [[3], [3]]);
    assert.equal(sent(fakes), [[3, 3, 1]]);

    // The leader dies; every request on both frontends reselects at once.
    fakes.get(2).establishSlowly = true;
    fakes.down(3);
    const secondA = times(20, () => a.reselect(leadersA[0]));
    await waitFor(() => fakes.calls.length === 2, 5_000, "frontend a's second SetLeader");
    const secondB = times(20, () => b.reselect(leadersB[0]));
    const polled2 = fakes.get(2).healthCalls;
    await waitFor(() => fakes.get(2).healthCalls >= polled2 + 2, 5_000, "frontend b polling the new establishing leader");
    fakes.finishEstablishing(2);
    assert.equal([ids(await secondA), ids(await secondB)], [[2], [2]]);
    assert.equal(sent(fakes), [[3, 3, 1], [2, 2, 2]], "one SetLeader per change, one new epoch per change");
    assert.equal([a.elections, b.elections, a.currentEpoch(), b.currentEpoch()], [2, 0, 2, 2]);
  }));

test("no replica answers: 503 with Retry-After after the budget, one warning per interval; then a majority is back and one leads", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    for (const id of [1, 2, 3]) fakes.down(id);
    const log = new RecordingLogger();
    const selector = fakes.selector({ selectBudgetMs: 300 }, log);
    const started = Date.now();
    const err = await selector.current().then(() => undefined, (e: unknown) => e);
    const elapsedMs = Date.now() - started;
    assert.ok(err instanceof ApiError && err.status === 503 && err.headers["retry-after"] !== undefined, `got ${String(err)}`);
    const warnings = log.of("warn").length;
    assert.ok(warnings >= 1 && warnings <= 1 + Math.floor(elapsedMs / leaderWarnIntervalMs), `${warnings} warnings in ${elapsedMs} ms`);
    await fakes.serve(fakes.get(1));
    await fakes.serve(fakes.get(2));
    // The channels reconnect within their backoff (at most 500 ms); until then selection fails.
    await waitFor(() => selector.current().then(() => true, () => false), 5_000, "a leader once replicas 1 and 2 are back");
    assert.equal([(await selector.current()).id, selector.elections], [2, 1]);
  }));

test("the leader down: reselect elects another in a newer epoch, and the old one no longer leads", () =>
  withReplicas([1, 2, 3], async (fakes) => {
    const selector = fakes.selector();
    const old = await selector.current();
    assert.equal([old.id, selector.currentEpoch()], [3, 1]);
    assert.ok(await selector.stillLeading(old));
    fakes.down(3);
    const next = await selector.reselect(old);
    assert.equal([next.id, selector.currentEpoch(), selector.elections], [2, 2, 2]);
    assert.not.ok(await selector.stillLeading(old));
    assert.ok(await selector.stillLeading(next));
    // A request that saw the old leader fail reuses the new one instead of selecting again.
    assert.is(await selector.reselect(old), next);
    assert.equal(sent(fakes), [[3, 3, 1], [2, 2, 2]]);
  }));

test("options are checked at construction, naming the option", () => {
  assert.throws(
    () => new LeaderSelector([], new RecordingLogger(), { selectBudgetMs: 0 }),
    (e: unknown) => e instanceof RangeError && /selectBudgetMs/.test(e.message),
  );
  assert.throws(
    () => new LeaderSelector([], new RecordingLogger(), { establishWaitMs: 1.5 }),
    (e: unknown) => e instanceof RangeError && /establishWaitMs/.test(e.message),
  );
});

test.run();
