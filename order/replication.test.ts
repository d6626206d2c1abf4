// Replication with real processes: a real catalog and three order replicas on free ports,
// concurrent Place calls through the leader, SIGKILL of a follower and of the leader under load.
// The test plays the frontend: SetLeader to every replica, and on a failed call it retries the
// same request id (through the new leader after a failover). Checked from outside each time:
// no duplicate number, no lost acknowledged order, byte-identical logs, and catalog quantity =
// initial − Σ buys + Σ sells over the log. Every process is killed by PID at the end.

import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isServiceError, isTransient } from "../lib/grpc.ts";
import { OrderSide, PlaceStatus } from "../gen/order.ts";
import { reported } from "../test/support/hooks.ts";
import { ProcessCluster } from "./_procs.ts";
import { orderLogHeader, parseOrderRow } from "./order_log.ts";

/** Bound on the whole file: the runner kills at 240 s, we clean up before that. */
const fileTimeoutMs = 180_000;
const workers = 64;
const stocks = ["GameStart", "FishCo", "BoarCo", "MenhirCo"];
const initialQuantity = 100;
/** How long one order may be retried across a failover before the test calls it lost. */
const orderRetryBudgetMs = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cluster: ProcessCluster | undefined;
const guard = setTimeout(() => {
  process.stderr.write(`replication.test.ts timed out after ${fileTimeoutMs} ms\n${cluster?.logs().slice(-20_000)}\n`);
  cluster?.killAll();
  process.exit(1);
}, fileTimeoutMs);
guard.unref();
process.on("exit", () => cluster?.killAll());

function c(): ProcessCluster {
  assert.ok(cluster, "cluster started");
  return cluster as ProcessCluster;
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
        const reply = await c().place(this.leader, request);
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

function readLog(id: number): { text: string; orders: ReturnType<typeof parseOrderRow>[] } {
  const text = fs.readFileSync(c().file(id), "utf8");
  const lines = text.split("\n").slice(0, -1);
  assert.is(lines[0], orderLogHeader);
  return { text, orders: lines.slice(1).map(parseOrderRow) };
}

/** Wait until every running replica holds the leader's last number, then compare the files. */
async function converged(leader: number, ids: readonly number[] = [1, 2, 3]): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const healths = await Promise.all(ids.map((id) => c().health(id).catch(() => undefined)));
    const last = healths.find((h) => h?.id === leader)?.lastNumber;
    if (last !== undefined && healths.every((h) => h?.lastNumber === last && h.ready)) break;
    if (Date.now() > deadline) {
      const notable = c().logs().split("\n").filter((l) => /^---| (warn|error) /.test(l)).slice(-80).join("\n");
      throw new Error(`replicas did not converge: ${JSON.stringify(healths)}\nwarnings and errors of the services:\n${notable}`);
    }
    await sleep(50);
  }
  const texts = ids.map((id) => readLog(id).text);
  for (const [i, text] of texts.entries()) assert.ok(text === texts[0], `replica ${ids[i]}'s log is byte-identical to replica ${ids[0]}'s`);
  return texts[0] as string;
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
      assert.ok(typeof row === "object" && row.requestId === requestId && row.name === a.name && row.quantity === a.quantity,
        `acknowledged order ${a.number} (${requestId}) is in the log`);
    }
  }
  const logged = new Set(orders.map((o) => typeof o === "object" ? o.requestId : ""));
  assert.is(logged.size, orders.length, "a request id appears once in the log");
}

async function checkCatalog(leader: number): Promise<void> {
  const { orders } = readLog(leader);
  for (const name of stocks) {
    let expected = initialQuantity;
    for (const o of orders) {
      if (typeof o !== "object" || o.name !== name) continue;
      expected += o.side === OrderSide.ORDER_SIDE_BUY ? -o.quantity : o.quantity;
    }
    assert.is((await c().lookup(name)).quantity, expected, `catalog quantity of ${name} matches the log`);
  }
}

const loads: Load[] = [];

test.before(reported("replication cluster", async () => {
  try {
    cluster = await ProcessCluster.start([1, 2, 3]);
    for (const id of [1, 2, 3]) await c().ready(id);
    const reply = await c().setLeader(3, 1);
    assert.is(reply.epoch, 1);
  } catch (err) {
    // uvu reports a failing before hook without its error: print it.
    process.stderr.write(`setup failed: ${err instanceof Error ? err.stack : String(err)}\n${cluster?.logs() ?? ""}\n`);
    throw err;
  }
}));

test.after(async () => {
  for (const load of loads) await load.stop();
  cluster?.killAll();
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
  await c().kill(1);
  await load.waitAcked(600);
  await c().startReplica(1);
  await c().ready(1);
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
  await c().kill(3);
  const reply = await c().setLeader(2, 2, [1, 2]);
  assert.is(reply.epoch, 2);
  load.leader = 2;
  await load.waitAcked(900);
  await c().startReplica(3);
  await load.waitAcked(1_200);
  await load.stop();
  assert.ok(load.retries > 0, "some calls failed over");
  await converged(2);
  checkAcked(loads, 2);
  await checkCatalog(2);
});

test.run();
