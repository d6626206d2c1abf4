// Replication with real processes: a real catalog and three order replicas on free ports,
// concurrent Place calls through the leader, SIGKILL of a follower and of the leader under load.
// The test plays the frontend: it asks one replica to campaign (SetLeader to the candidate),
// after a leader dies it elects a replica whose log is as up to date as a majority's (from
// Health), and on a failed call it retries the same request id (through the new leader after a
// failover). Checked from outside each time: no duplicate number, no lost acknowledged order,
// logs numbered from 0 with epochs never going back, byte-identical logs once every replica
// holds and has committed the leader's last order, and catalog quantity = initial − Σ buys +
// Σ sells over the log. Every process is killed by PID at the end.

import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isServiceError, isTransient } from "../lib/grpc.ts";
import { OrderSide, PlaceStatus } from "../gen/order.ts";
import type { HealthReply, OrderRecord } from "../gen/order.ts";
import { reported } from "../test/support/hooks.ts";
import { LocalSystem } from "../test/support/local_system.ts";
import { killAll, tempDir } from "../test/support/processes.ts";
import { orderLogHeader, parseOrderRow } from "./order_log.ts";
import { sleep } from "../lib/sleep.ts";

/** Bound on the whole file: the runner kills at 240 s, we clean up before that. */
const fileTimeoutMs = 180_000;
const workers = 64;
const stocks = ["GameStart", "FishCo", "BoarCo", "MenhirCo"];
const initialQuantity = 100;
/** How long one order may be retried across a failover before the test calls it lost. */
const orderRetryBudgetMs = 20_000;

let cluster: LocalSystem | undefined;
const guard = setTimeout(() => {
  process.stderr.write(`replication.test.ts timed out after ${fileTimeoutMs} ms\n${cluster?.logs().slice(-20_000)}\n`);
  killAll();
  process.exit(1);
}, fileTimeoutMs);
guard.unref();

function c(): LocalSystem {
  assert.ok(cluster, "cluster started");
  return cluster as LocalSystem;
}

type Acked = { number: number; name: string; side: OrderSide; quantity: number };

/** Concurrent callers acting like the frontend: retry a failed call with the same request id. */
class Load {
  leader: number;
  readonly acked = new Map<string, Acked>();
  readonly refused = new Map<string, PlaceStatus>();
  readonly errors: string[] = [];
  retries = 0;
  private stopping = false;
  private readonly running: Promise<void>[];

  constructor(leader: number, prefix: string, perWorkerMax = Number.POSITIVE_INFINITY) {
    this.leader = leader;
    this.running = Array.from({ length: workers }, (_, w) => this.worker(`${prefix}-${w}`, perWorkerMax));
  }

  async waitAcked(count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.acked.size < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.acked.size} of ${count} orders acknowledged`);
      await sleep(10);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  async finished(): Promise<void> {
    await Promise.all(this.running);
  }

  private async worker(prefix: string, max: number): Promise<void> {
    for (let seq = 0; seq < max && !this.stopping; seq++) {
      const requestId = `${prefix}-${seq}`;
      const side = seq % 3 === 0 ? OrderSide.ORDER_SIDE_BUY : OrderSide.ORDER_SIDE_SELL;
      const name = stocks[(seq + prefix.length) % stocks.length] as string;
      await this.placeUntilAnswered({ requestId, name, side, quantity: 1 + (seq % 3) });
    }
  }

  private async placeUntilAnswered(request: { requestId: string; name: string; side: OrderSide; quantity: number }): Promise<void> {
    const deadline = Date.now() + orderRetryBudgetMs;
    for (;;) {
      try {
        const reply = await c().grpc.place(this.leader, request);
        if (reply.status === PlaceStatus.PLACE_OK) this.acked.set(request.requestId, { number: reply.number, ...request });
        else this.refused.set(request.requestId, reply.status);
        return;
      } catch (err) {
        if (!isServiceError(err) || !isTransient(err) || Date.now() > deadline) {
          this.errors.push(`${request.requestId}: ${String(err)}`);
          return;
        }
        this.retries++;
        await sleep(20);
      }
    }
  }
}

/** A replica's log file, every row well-formed, numbered from 0, epochs never going back. */
function readLog(id: number): { text: string; orders: OrderRecord[] } {
  const text = fs.readFileSync(c().orderFile(id), "utf8");
  assert.ok(text.endsWith("\n"), `replica ${id}'s log ends with a whole line`);
  const lines = text.split("\n").slice(0, -1);
  assert.is(lines[0], orderLogHeader);
  const orders: OrderRecord[] = [];
  for (const [i, line] of lines.slice(1).entries()) {
    const row = parseOrderRow(line);
    if (typeof row === "string") assert.unreachable(`replica ${id}'s log, line ${i + 2}: ${row}`);
    const o = row as OrderRecord;
    assert.is(o.number, i, `replica ${id}'s log is numbered from 0 without gaps`);
    assert.ok(o.epoch >= (orders[i - 1]?.epoch ?? 1), `replica ${id}'s log: epoch ${o.epoch} of order ${i} does not go back`);
    orders.push(o);
  }
  return { text, orders };
}

/**
 * Wait until every running replica holds the leader's last number and knows it committed (a
 * follower learns the commit point from the leader's next Append or heartbeat), and until
 * every file holds that many rows (Health counts orders whose write is still in flight: the
 * commit point needs a majority, not this replica's own disk), then compare the files.
 */
async function converged(leader: number, ids: readonly number[] = [1, 2, 3]): Promise<string> {
  const deadline = Date.now() + 15_000;
  let texts: string[] = [];
  for (;;) {
    const healths = await Promise.all(ids.map((id) => c().grpc.health(id).catch(() => undefined)));
    const lead = healths.find((h) => h?.id === leader);
    const last = lead?.role === "leader" ? lead.lastNumber : undefined;
    const caughtUp = (h: HealthReply | undefined): boolean =>
      h !== undefined && h.lastNumber === last &&
      h.commitNumber === last && h.ready && h.epoch === lead?.epoch && (h.id === leader || h.leaderId === leader);
    if (last !== undefined && healths.every(caughtUp)) {
      texts = ids.map((id) => fs.readFileSync(c().orderFile(id), "utf8"));
      if (texts.every((text) => text.split("\n").length - 2 === last + 1 && text.endsWith("\n"))) break;
    }
    if (Date.now() > deadline) {
      const notable = c().logs().split("\n").filter((l) => /^---| (warn|error) /.test(l)).slice(-80).join("\n");
      const rows = texts.map((text, i) => `replica ${ids[i]}: ${text.split("\n").length - 2} rows`).join(", ");
      throw new Error(`replicas did not converge: ${JSON.stringify(healths)} ${rows}\nwarnings and errors of the services:\n${notable}`);
    }
    await sleep(50);
  }
  texts = ids.map((id) => readLog(id).text);
  for (const [i, text] of texts.entries()) {
    if (text !== texts[0]) {
      assert.unreachable(`replica ${ids[i]}'s log differs from replica ${ids[0]}'s: ${firstDifference(text, texts[0] as string)}`);
    }
  }
  return texts[0] as string;
}

/** Where two log files part, for a failure message. */
function firstDifference(a: string, b: string): string {
  const la = a.split("\n");
  const lb = b.split("\n");
  const at = la.findIndex((line, i) => line !== lb[i]);
  return `${la.length - 2} vs ${lb.length - 2} orders; line ${at + 1}: ${JSON.stringify(la[at])} vs ${JSON.stringify(lb[at])}`;
}

/** Guarantees 1-3: every acknowledged order is in the log under its number, once. */
function checkAcked(loads: readonly Load[], leader: number): void {
  const { orders } = readLog(leader);
  const numbers = new Set<number>();
  for (const load of loads) {
    assert.equal(load.errors, [], "every order got an answer");
    for (const [requestId, a] of load.acked) {
      assert.not.ok(numbers.has(a.number), `number ${a.number} given once`);
      numbers.add(a.number);
      const row = orders[a.number];
      assert.ok(
        row !== undefined && row.requestId === requestId && row.name === a.name && row.quantity === a.quantity,
        `acknowledged order ${a.number} (${requestId}) is in the log`,
      );
    }
  }
  const logged = new Set(orders.map((o) => o.requestId));
  assert.is(logged.size, orders.length, "a request id appears once in the log");
}

/**
 * Elect a new leader like the frontend: among the replicas that answer Health, the highest id
 * whose log is as up to date as a majority's (the later last epoch, then the longer log), in an
 * epoch above every epoch seen. Returns the new leader and its epoch.
 */
async function electNewLeader(): Promise<{ id: number; epoch: number }> {
  const healths = (await Promise.all(c().replicaIds.map((id) => c().grpc.health(id).catch(() => undefined))))
    .filter((h): h is HealthReply => h !== undefined);
  const majority = Math.floor(c().replicaIds.length / 2) + 1;
  assert.ok(healths.length >= majority, `a majority answers Health (${healths.length} of ${c().replicaIds.length})`);
  const atLeast = (a: HealthReply, b: HealthReply): boolean =>
    a.lastEpoch !== b.lastEpoch ? a.lastEpoch > b.lastEpoch : a.lastNumber >= b.lastNumber;
  const eligible = healths.filter((a) => healths.filter((b) => atLeast(a, b)).length >= majority);
  const chosen = eligible.sort((a, b) => b.id - a.id)[0];
  if (!chosen) throw new Error(`no replica is as up to date as a majority: ${JSON.stringify(healths)}`);
  const epoch = Math.max(...healths.map((h) => h.epoch)) + 1;
  const reply = await c().grpc.setLeader(chosen.id, epoch);
  assert.is(reply.epoch, epoch);
  assert.ok(reply.lastNumber >= chosen.lastNumber, "the new leader keeps its whole log");
  return { id: chosen.id, epoch };
}

async function checkCatalog(leader: number): Promise<void> {
  const { orders } = readLog(leader);
  for (const name of stocks) {
    let expected = initialQuantity;
    for (const o of orders) {
      if (o.name !== name) continue;
      expected += o.side === OrderSide.ORDER_SIDE_BUY ? -o.quantity : o.quantity;
    }
    assert.is((await c().grpc.lookup(name)).quantity, expected, `catalog quantity of ${name} matches the log`);
  }
}

const loads: Load[] = [];

test.before(reported("replication cluster", async () => {
  try {
    cluster = await LocalSystem.start({ replicaIds: [1, 2, 3], noFrontend: true, dataDir: tempDir("replication", true) });
    for (const id of [1, 2, 3]) await c().grpc.ready(id);
    const reply = await c().grpc.setLeader(3, 1);
    assert.is(reply.epoch, 1);
  } catch (err) {
    // uvu reports a failing before hook without its error: print it.
    process.stderr.write(`setup failed: ${err instanceof Error ? err.stack : String(err)}\n${cluster?.logs() ?? ""}\n`);
    throw err;
  }
}));

test.after(async () => {
  for (const load of loads) await load.stop();
  await cluster?.stop();
});

test("concurrent Place through the leader: numbered 0.., byte-identical logs", async () => {
  const load = new Load(3, "a", 10);
  loads.push(load);
  await load.finished();
  assert.is(load.acked.size + load.refused.size, workers * 10);
  const numbers = [...load.acked.values()].map((a) => a.number).sort((x, y) => x - y);
  assert.equal(numbers, Array.from({ length: load.acked.size }, (_, i) => i));
  await converged(3);
  checkAcked(loads, 3);
});

test("a follower SIGKILLed mid-load catches up after restart", async () => {
  const load = new Load(3, "b");
  loads.push(load);
  await load.waitAcked(200);
  await c().killReplica(1);
  await load.waitAcked(600);
  await c().startReplica(1);
  await c().grpc.ready(1);
  // Orders acknowledged from now on reach replica 1 only through the leader's catch-up and
  // Appends, not through its own recovery.
  await load.waitAcked(load.acked.size + 500);
  await load.stop();
  await converged(3);
  checkAcked(loads, 3);
});

test("the leader SIGKILLed mid-load: the new leader takes the same request ids, nothing lost or doubled", async () => {
  const load = new Load(3, "c");
  loads.push(load);
  await load.waitAcked(300);
  await c().killReplica(3);
  const elected = await electNewLeader();
  assert.ok(elected.id !== 3, "the dead leader is not elected");
  assert.is(elected.epoch, 2);
  load.leader = elected.id;
  await load.waitAcked(900);
  await c().startReplica(3);
  await load.waitAcked(1_200);
  await load.stop();
  assert.ok(load.retries > 0, "some calls failed over");
  await converged(elected.id);
  checkAcked(loads, elected.id);
  await checkCatalog(elected.id);
  // Orders numbered by the new leader carry its epoch; the old leader's stay in epoch 1.
  const { orders } = readLog(elected.id);
  assert.is(orders[orders.length - 1]?.epoch, 2);
  assert.is(orders[0]?.epoch, 1);
});

test.run();
