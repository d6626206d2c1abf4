// The gRPC face of a replica: the status of every error code, and a real round trip through
// server.ts, shell.ts and the clients.ts peers: two replicas in this process, each behind its
// own gRPC server with its own temp DATA_DIR, the catalog at an address where nothing listens.
// An election, a handover to the other replica, and each refusal as the status (or reply
// outcome) a caller sees.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bindServer, callUnary, channelOptions, grpc, serverOptions, shutdownServer } from "../lib/grpc.ts";
import { envLogLevel, Logger } from "../lib/log.ts";
import { freePort } from "../lib/service_process.ts";
import { StreamCallServer } from "../lib/stream_calls.ts";
import { AppendOutcome, OrderClient, OrderService, OrderSide, PlaceStatus } from "../gen/order.ts";
import type {
  GetRequest,
  HealthReply,
  HealthRequest,
  OrderRecord,
  PlaceReply,
  PlaceRequest,
  SetLeaderReply,
  SetLeaderRequest,
} from "../gen/order.ts";
import { waitFor } from "../test/support/wait.ts";
import { grpcCatalog, grpcPeer } from "./clients.ts";
import type { PeerPort } from "./clients.ts";
import type { OrderErrorCode } from "./errors.ts";
import { OrderError } from "./errors.ts";
import { placeWaitMsMax } from "./limits.ts";
import { OrderLog, orderLogFile } from "./order_log.ts";
import { orderService, toStatus } from "./server.ts";
import { ReplicaShell } from "./shell.ts";
import { readVote, voteFile, writeVote } from "./vote_file.ts";
import { failureCode } from "../test/support/grpc_calls.ts";

test("every error code has its gRPC status", () => {
  const expected: Record<OrderErrorCode, grpc.status> = {
    NOT_LEADER: grpc.status.FAILED_PRECONDITION,
    STALE_EPOCH: grpc.status.FAILED_PRECONDITION,
    NOT_READY: grpc.status.UNAVAILABLE,
    UNAVAILABLE: grpc.status.UNAVAILABLE,
    NOT_FOUND: grpc.status.NOT_FOUND,
    INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
    OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  };
  for (const [code, status] of Object.entries(expected)) {
    const s = toStatus(new OrderError(code as OrderErrorCode, `message of ${code}`));
    assert.is(s.code, status, code);
    assert.is(s.details, `message of ${code}`);
  }
  assert.is(toStatus(new Error("boom")).code, grpc.status.INTERNAL);
  assert.is(toStatus("not an error").code, grpc.status.INTERNAL);
});

/** The status a call failed with; a call that succeeds fails the test. */

/** Deadline of a test's call: above every deadline the replica answers within (limits.ts). */
const callTimeoutMs = placeWaitMsMax + 3_000;

/** Where nothing listens: every catalog call fails (port 1 is privileged, never bound by a test). */
const catalogDown = { host: "127.0.0.1", port: 1 };

type Replica = {
  readonly id: number;
  readonly port: number;
  readonly dir: string;
  readonly shell: ReplicaShell;
  readonly server: grpc.Server;
  readonly streams: StreamCallServer;
  readonly client: OrderClient;
};

async function startReplica(id: number, ports: ReadonlyMap<number, number>): Promise<Replica> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sb-order-server-${id}-`));
  const logger = new Logger("order", { replica: id }, envLogLevel({ LOG_LEVEL: process.env["LOG_LEVEL"] ?? "silent" }));
  const log = await OrderLog.open(orderLogFile(dir, id));
  const votePath = voteFile(dir, id);
  const peers = [...ports].filter(([peer]) => peer !== id).map(([peer, port]) => grpcPeer({ id: peer, addr: { host: "127.0.0.1", port } }));
  const shell = new ReplicaShell({
    id,
    ids: [...ports.keys()],
    log,
    vote: await readVote(votePath),
    writeVote: (v) => writeVote(votePath, v),
    catalog: grpcCatalog(catalogDown),
    peers,
    logger,
  });
  const server = new grpc.Server(serverOptions);
  const streams = new StreamCallServer();
  server.addService(OrderService, orderService(shell, logger, streams));
  const port = ports.get(id) as number;
  assert.is(await bindServer(server, "127.0.0.1", port), port);
  shell.start();
  const client = new OrderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
  return { id, port, dir, shell, server, streams, client };
}

async function stopReplica(r: Replica): Promise<void> {
  r.client.close();
  const drained = shutdownServer(r.server);
  r.streams.closeAll();
  await drained;
  await r.shell.stop();
  fs.rmSync(r.dir, { recursive: true, force: true });
}

const health = (r: Replica): Promise<HealthReply> => callUnary<HealthRequest, HealthReply>(r.client, r.client.health, {}, callTimeoutMs);
const setLeader = (r: Replica, request: SetLeaderRequest): Promise<SetLeaderReply> =>
  callUnary<SetLeaderRequest, SetLeaderReply>(r.client, r.client.setLeader, request, callTimeoutMs);
const place = (r: Replica, request: PlaceRequest): Promise<PlaceReply> =>
  callUnary<PlaceRequest, PlaceReply>(r.client, r.client.place, request, callTimeoutMs);
const get = (r: Replica, number: number): Promise<OrderRecord> =>
  callUnary<GetRequest, OrderRecord>(r.client, r.client.get, { number }, callTimeoutMs);

const follower = (id: number): HealthReply => ({
  id,
  lastNumber: -1,
  epoch: 0,
  leaderId: 0,
  ready: true,
  liveFollowers: [],
  lastEpoch: 0,
  role: "follower",
  commitNumber: -1,
});

const anOrder: PlaceRequest = { requestId: "r-1", name: "GameStart", side: OrderSide.ORDER_SIDE_BUY, quantity: 1 };

test("two replicas over real gRPC: election, handover, and every refusal as a status", async () => {
  const ports = new Map([[1, await freePort()], [2, await freePort()]]);
  const replicas: Replica[] = [];
  const probes: PeerPort[] = [];
  try {
    for (const id of [1, 2]) replicas.push(await startReplica(id, ports));
    const [one, two] = replicas as [Replica, Replica];
    // Appends and RequestVotes as a peer sends them (the Appends stream, unary RequestVote).
    const toTwo = grpcPeer({ id: 2, addr: { host: "127.0.0.1", port: two.port } });
    probes.push(toTwo);

    assert.equal(await health(one), follower(1));
    assert.equal(await health(two), follower(2));
    // Before any election nobody serves.
    assert.is(await failureCode(place(one, anOrder)), grpc.status.FAILED_PRECONDITION);

    // SetLeader goes to the candidate itself, for an epoch of 1 or more.
    assert.is(await failureCode(setLeader(one, { leaderId: 2, epoch: 1 })), grpc.status.INVALID_ARGUMENT);
    assert.is(await failureCode(setLeader(one, { leaderId: 1, epoch: 0 })), grpc.status.INVALID_ARGUMENT);
    assert.equal(await health(one), follower(1), "a refused SetLeader changes nothing");

    // Replica 1 campaigns in epoch 1 and wins with replica 2's vote.
    assert.equal(await setLeader(one, { leaderId: 1, epoch: 1 }), { epoch: 1, lastNumber: -1 });
    assert.equal(await readVote(voteFile(one.dir, 1)), { epoch: 1, votedFor: 1 });
    assert.equal(await readVote(voteFile(two.dir, 2)), { epoch: 1, votedFor: 1 });
    // Replica 2 learns who leads from the leader's heartbeat; the leader sees it as live.
    await waitFor(async () => (await health(two)).leaderId === 1, 5_000, "replica 2 to follow replica 1");
    assert.equal(await health(two), { ...follower(2), epoch: 1, leaderId: 1 });
    await waitFor(async () => (await health(one)).liveFollowers.length === 1, 5_000, "replica 2 to be a live follower");
    assert.equal(await health(one), {
      id: 1,
      lastNumber: -1,
      epoch: 1,
      leaderId: 1,
      ready: true,
      liveFollowers: [2],
      lastEpoch: 0,
      role: "leader",
      commitNumber: -1,
    });
    // Asked again, the leader answers at once; replica 2 voted in epoch 1 and cannot lead it.
    assert.equal(await setLeader(one, { leaderId: 1, epoch: 1 }), { epoch: 1, lastNumber: -1 });
    assert.is(await failureCode(setLeader(two, { leaderId: 2, epoch: 1 })), grpc.status.FAILED_PRECONDITION);
    assert.is(await failureCode(setLeader(two, { leaderId: 2, epoch: 0 })), grpc.status.INVALID_ARGUMENT);

    // Only the leader serves; the leader's catalog is down, so an order fails within its deadline.
    assert.is(await failureCode(place(two, anOrder)), grpc.status.FAILED_PRECONDITION);
    assert.is(await failureCode(get(two, 0)), grpc.status.FAILED_PRECONDITION);
    const started = performance.now();
    assert.is(await failureCode(place(one, anOrder)), grpc.status.UNAVAILABLE);
    assert.ok(performance.now() - started < callTimeoutMs - 1_000, "answered by the replica, not by the call's deadline");
    assert.is(await failureCode(get(one, 0)), grpc.status.NOT_FOUND);
    assert.is(await failureCode(get(one, -1)), grpc.status.INVALID_ARGUMENT);
    const invalid = await place(one, { ...anOrder, quantity: 0 });
    assert.equal([invalid.status, invalid.number], [PlaceStatus.PLACE_INVALID, 0]);
    assert.equal((await health(one)).lastNumber, -1, "no order was numbered");

    // An Append that starts past the follower's log: a gap, reported with its last number.
    const gap = await toTwo.append({ epoch: 1, leaderId: 1, prevNumber: 5, prevEpoch: 1, orders: [], commitNumber: -1 }, callTimeoutMs);
    assert.equal(gap, { outcome: AppendOutcome.APPEND_GAP, epoch: 1, lastNumber: -1, matchNumber: -1 });
    // The vote of epoch 1 went to replica 1: asking again is the same vote, and a malformed request is refused.
    assert.equal(await toTwo.requestVote({ epoch: 1, candidateId: 1, lastNumber: -1, lastEpoch: 0 }, callTimeoutMs), {
      epoch: 1,
      granted: true,
    });
    assert.is(
      await failureCode(toTwo.requestVote({ epoch: 1, candidateId: 2, lastNumber: -1, lastEpoch: 0 }, callTimeoutMs)),
      grpc.status.INVALID_ARGUMENT,
    );

    // Handover: replica 2 campaigns in epoch 2; replica 1 votes for it and steps down.
    assert.equal(await setLeader(two, { leaderId: 2, epoch: 2 }), { epoch: 2, lastNumber: -1 });
    assert.equal(await readVote(voteFile(one.dir, 1)), { epoch: 2, votedFor: 2 });
    assert.equal(await readVote(voteFile(two.dir, 2)), { epoch: 2, votedFor: 2 });
    await waitFor(async () => (await health(one)).leaderId === 2, 5_000, "replica 1 to follow replica 2");
    assert.equal(await health(one), { ...follower(1), epoch: 2, leaderId: 2 });
    assert.is((await health(two)).role, "leader");
    assert.is(await failureCode(place(one, anOrder)), grpc.status.FAILED_PRECONDITION);

    // The old epoch is refused everywhere: SetLeader, Append, RequestVote.
    assert.is(await failureCode(setLeader(one, { leaderId: 1, epoch: 1 })), grpc.status.FAILED_PRECONDITION);
    const stale = await toTwo.append({ epoch: 1, leaderId: 1, prevNumber: -1, prevEpoch: 0, orders: [], commitNumber: -1 }, callTimeoutMs);
    assert.equal([stale.outcome, stale.epoch], [AppendOutcome.APPEND_STALE_EPOCH, 2]);
    assert.equal(await toTwo.requestVote({ epoch: 1, candidateId: 1, lastNumber: -1, lastEpoch: 0 }, callTimeoutMs), {
      epoch: 2,
      granted: false,
    });
    // Replica 2 voted for itself in epoch 2: replica 1 cannot have that vote either.
    assert.equal(await toTwo.requestVote({ epoch: 2, candidateId: 1, lastNumber: -1, lastEpoch: 0 }, callTimeoutMs), {
      epoch: 2,
      granted: false,
    });
    const h2 = await health(two);
    assert.equal([h2.role, h2.epoch, h2.leaderId], ["leader", 2, 2], "stale requests did not depose the leader");
    assert.equal(await readVote(voteFile(two.dir, 2)), { epoch: 2, votedFor: 2 });
  } finally {
    for (const p of probes) p.close();
    for (const r of replicas) await stopReplica(r);
  }
});

test.run();
