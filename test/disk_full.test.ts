// A real full disk: a tiny tmpfs (or, where tmpfs cannot be mounted, a loop-mounted ext4 image)
// that the test fills up. An AppendFile on it must acknowledge only appends that are wholly on
// disk, reject the append that hit ENOSPC and every later one, and leave a file that reopens as
// whole lines; writeFileAtomic must fail cleanly. Then the catalog process end to end: with its
// DATA_DIR nearly full, TradeBatch calls fail UNAVAILABLE (never OK), and a restart with more
// room loads exactly the trades that were acknowledged. Last, a whole system: one order
// replica's disk fills up under trades; it stops acknowledging and says why, the other two carry
// on, and once restarted with room it catches up without any acknowledged order lost.
// Needs root on Linux (mount). Skipped, with the reason printed, when no file system can be
// mounted. TINY_FS=ext4 forces the loop-mounted ext4 fallback.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CatalogClient, Stock, TradeBatchReply, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { AppendFile, nodeFileIo, readLines, StorageFailedError, writeFileAtomic } from "../lib/durable_file.ts";
import type { FileIo } from "../lib/durable_file.ts";
import { callUnary, grpc, isServiceError } from "../lib/grpc.ts";
import { parseLogLine } from "../lib/log.ts";
import type { RunningService } from "../lib/service_process.ts";
import { LocalSystem } from "./support/local_system.ts";
import { catalogClient } from "./support/grpc_calls.ts";
import { killAll, startCatalog } from "./support/processes.ts";
import { reported } from "./support/hooks.ts";
import { frontendHealth } from "./support/http.ts";
import { TradeLoad } from "./support/load.ts";
import { readOrderLog, verifyGuarantees, waitFilesIdentical } from "./support/verify.ts";
import { waitFor } from "./support/wait.ts";

/** Size of each tiny file system: a few hundred journal rows fill it in well under a second. */
const tinyFsBytes = 256 * 1024;
/** The loop-mounted ext4 fallback needs room for its own metadata. */
const ext4ImageBytes = 1024 * 1024;
/** Room left free in the catalog's DATA_DIR before the trades start: a few hundred journal rows. */
const catalogRoomBytes = 24 * 1024;
/** Concurrent appends per round, so failures also hit appends that share a flush. */
const appendsPerRound = 8;
/** Trades per TradeBatch call. */
const tradesPerBatch = 16;
/** Calls before giving up on filling the disk (far more than the room allows). */
const batchesMax = 2_000;
const callTimeoutMs = 5_000;
/** Room left free on the order replica's disk: a couple of pages, about a hundred order rows. */
const replicaRoomBytes = 8 * 1024;
/** Concurrent clients putting trades through the frontend. */
const tradeConcurrency = 4;
/** Orders acknowledged after the replica's disk failed, to show the other two carry on. */
const ackedAfterFailureMin = 100;
/** Orders acknowledged after the replica came back, so it catches up under traffic too. */
const ackedAfterRestartMin = 50;
/** Patience for the replicas' background work (filling the disk, catch-up) on a busy machine. */
const clusterWaitMs = 60_000;
const umountAttemptsMax = 20;
const umountRetryMs = 100;

type TinyFs = { readonly dir: string; readonly kind: string; unmount(): void };

function run(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.error) return result.error.message;
  if (result.status !== 0) return `${command} ${args.join(" ")}: ${result.stderr.trim() || `exit ${result.status}`}`;
  return undefined;
}

/** Mount a tiny file system on a new directory; returns why not when neither kind can be mounted. */
function mountTinyFs(): TinyFs | string {
  if (process.platform !== "linux") return `needs Linux to mount a tiny file system (this is ${process.platform})`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "disk-full-"));
  const problems: string[] = [];
  if (process.env["TINY_FS"] !== "ext4") {
    const problem = run("mount", ["-t", "tmpfs", "-o", `size=${tinyFsBytes}`, "tmpfs", dir]);
    if (problem === undefined) return { dir, kind: `tmpfs of ${tinyFsBytes} bytes`, unmount: () => unmount(dir) };
    problems.push(problem);
  }
  const image = `${dir}.img`;
  fs.writeFileSync(image, "");
  fs.truncateSync(image, ext4ImageBytes);
  const problem = run("mkfs.ext4", ["-q", "-F", "-m", "0", "-O", "^has_journal", image]) ?? run("mount", ["-o", "loop", image, dir]);
  if (problem === undefined) {
    return {
      dir,
      kind: `loop-mounted ext4 of ${ext4ImageBytes} bytes`,
      unmount: () => {
        unmount(dir);
        fs.rmSync(image, { force: true });
      },
    };
  }
  problems.push(problem);
  fs.rmSync(image, { force: true });
  fs.rmdirSync(dir);
  return problems.join("; ");
}

/** Unmount, retrying while a process that used it is still exiting; then remove the mount point. */
function unmount(dir: string): void {
  for (let attempt = 1;; attempt++) {
    const problem = run("umount", [dir]);
    if (problem === undefined) break;
    if (attempt === umountAttemptsMax) {
      run("umount", ["-l", dir]);
      break;
    }
    spawnSync("sleep", [String(umountRetryMs / 1000)]);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Bytes the file system under `dir` still has for us. */
function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Fill the file system under `dir` until about `roomBytes` are left; returns the filler's path. */
function fill(dir: string, roomBytes: number): string {
  const filler = path.join(dir, "filler");
  const size = Math.max(0, freeBytes(dir) - roomBytes);
  fs.writeFileSync(filler, Buffer.alloc(size));
  return filler;
}

const mounts: TinyFs[] = [];
const clients: CatalogClient[] = [];
const loads: TradeLoad[] = [];
const clusters: LocalSystem[] = [];

function tinyFs(): TinyFs | undefined {
  const mounted = mountTinyFs();
  if (typeof mounted === "string") {
    process.stdout.write(`SKIPPED (no tiny file system: ${mounted})\n`);
    return undefined;
  }
  mounts.push(mounted);
  return mounted;
}

test.after(reported("cleanup", async () => {
  for (const client of clients) client.close();
  for (const load of loads.splice(0)) await load.stop();
  // Every process by PID before unmounting: a replica still running would keep the mount busy.
  for (const cluster of clusters.splice(0)) await cluster.stop();
  killAll();
  for (const m of mounts.splice(0)) m.unmount();
}));

/** nodeFileIo that records each write asked for and what it wrote (to report short writes). */
function recordingIo(): FileIo & { writes: { asked: number; written: number | string }[] } {
  const writes: { asked: number; written: number | string }[] = [];
  return {
    ...nodeFileIo,
    writes,
    async write(fd, data, offset, length, position) {
      try {
        const written = await nodeFileIo.write(fd, data, offset, length, position);
        writes.push({ asked: length, written });
        return written;
      } catch (err) {
        writes.push({ asked: length, written: (err as NodeJS.ErrnoException).code ?? String(err) });
        throw err;
      }
    },
  };
}

function row(i: number): string {
  // Lengths vary so the disk runs out in the middle of a row.
  return `row-${i},${"x".repeat(40 + (i * 7) % 53)}\n`;
}

test("AppendFile on a full disk acknowledges only whole rows on disk, then refuses everything", async () => {
  const fsFull = tinyFs();
  if (fsFull === undefined) return;
  const file = path.join(fsFull.dir, "rows.csv");
  const table = path.join(fsFull.dir, "table.csv");
  fs.writeFileSync(table, "old table\n");
  const filler = fill(fsFull.dir, tinyFsBytes / 2);
  const io = recordingIo();
  const appender = await AppendFile.open(file, undefined, { io });
  const outcomes: { text: string; ok: boolean; err?: unknown }[] = [];
  for (let round = 0; !outcomes.some((o) => !o.ok); round++) {
    assert.ok(round * appendsPerRound < tinyFsBytes, "the disk fills up");
    const texts = Array.from({ length: appendsPerRound }, (_, i) => row(round * appendsPerRound + i));
    const settled = await Promise.allSettled(texts.map((text) => appender.append(text)));
    settled.forEach((s, i) =>
      outcomes.push({ text: texts[i] as string, ok: s.status === "fulfilled", err: s.status === "rejected" ? s.reason : undefined })
    );
  }
  const acked = outcomes.filter((o) => o.ok).map((o) => o.text);
  const firstFailed = outcomes.findIndex((o) => !o.ok);
  assert.is(firstFailed, acked.length, "acknowledged appends are a prefix: none after the first failure");
  const failure = outcomes[firstFailed]?.err;
  assert.instance(failure, StorageFailedError);
  const err = failure as StorageFailedError;
  assert.is(err.operation, "write");
  assert.is((err.cause as NodeJS.ErrnoException).code, "ENOSPC");
  assert.match(err.message, "ENOSPC");
  assert.match(err.message, file);
  assert.is(appender.failure, err);
  for (const o of outcomes.slice(firstFailed)) assert.is(o.err, err, "every append of the failing round fails the same way");
  const later = await appender.append(row(-1)).then(() => undefined, (e: unknown) => e);
  assert.is(later, err, "a later append is refused too");
  await appender.close();

  // Every acknowledged row is on disk, whole, and nothing else: the failed flush was cut back.
  assert.is(fs.readFileSync(file, "utf8"), acked.join(""));
  const read = await readLines(file);
  assert.is(read.tornTail, "");
  assert.equal(read.lines, acked.map((text) => text.slice(0, -1)));
  const short = io.writes.filter((w) => typeof w.written === "number" && w.written < w.asked);
  process.stdout.write(
    `${fsFull.kind}: ${acked.length} rows (${read.completeBytes} bytes) acknowledged, then ${err.message}; ` +
      `writes: ${io.writes.length}, short: ${JSON.stringify(short)}, last: ${JSON.stringify(io.writes.slice(-2))}\n`,
  );

  // writeFileAtomic on the full disk fails with ENOSPC and leaves the old file, no temp file.
  const atomic = await writeFileAtomic(table, "new table\n".repeat(2_000)).then(() => undefined, (e: unknown) => e);
  assert.instance(atomic, StorageFailedError);
  assert.is(((atomic as StorageFailedError).cause as NodeJS.ErrnoException).code, "ENOSPC");
  assert.is(fs.readFileSync(table, "utf8"), "old table\n");
  assert.equal(fs.readdirSync(fsFull.dir).filter((name) => name.includes(".tmp-")), [], "no temp file is left");

  // With room again, the file reopens after its last whole row and takes appends.
  fs.rmSync(filler);
  const reopened = await AppendFile.open(file, read.completeBytes);
  await reopened.append("after,restart\n");
  await reopened.close();
  assert.equal((await readLines(file)).lines, [...read.lines, "after,restart"]);
});

// --- The catalog process end to end ---------------------------------------------------------

/** Acts as the order leader of epoch 1: numbers continue from the catalog's last number. */
const leader = { epoch: 1, leaderId: 1 };

async function statusOf(p: Promise<unknown>): Promise<{ code: grpc.status; details: string } | "OK"> {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (isServiceError(err)) return { code: err.code, details: err.details };
    throw err;
  }
}

function connect(catalog: RunningService): CatalogClient {
  const client = catalogClient(catalog.port);
  clients.push(client);
  return client;
}

const stockNames = ["GameStart", "FishCo", "BoarCo", "MenhirCo"];

function batchOf(first: number): TradeRequest[] {
  return Array.from({ length: tradesPerBatch }, (_, i) => ({
    requestId: `disk-full-${first + i}`,
    name: stockNames[(first + i) % stockNames.length] as string,
    side: Side.SIDE_SELL,
    quantity: 1,
  }));
}

function tradeBatch(client: CatalogClient, trades: TradeRequest[], lastNumber: number): Promise<TradeBatchReply> {
  const request = { trades, ...leader, afterNumber: lastNumber, commitNumber: lastNumber };
  return callUnary(client, client.tradeBatch, request, callTimeoutMs);
}

test("the catalog on a full disk answers UNAVAILABLE, and a restart with room loads only acknowledged trades", async () => {
  const fsFull = tinyFs();
  if (fsFull === undefined) return;
  const dataDir = path.join(fsFull.dir, "data");
  const first = await startCatalog({ DATA_DIR: dataDir });
  const client = connect(first);
  let lastNumber = -1;
  let sent = 0;
  /** The stock state of each acknowledged trade's reply, last one per stock. */
  const ackedStocks = new Map<string, Stock>();
  const acknowledge = (reply: TradeBatchReply): void => {
    assert.equal(reply.missing, []);
    for (const r of reply.results) {
      assert.is(r.status, TradeStatus.TRADE_OK, r.message);
      assert.ok(r.stock !== undefined);
      ackedStocks.set(r.stock.name, r.stock);
    }
    lastNumber = reply.lastNumber;
  };
  // One batch with room to spare first: it records the leader's epoch, so the full disk hits trades.
  acknowledge(await tradeBatch(client, batchOf(sent), lastNumber));
  sent += tradesPerBatch;
  const filler = fill(fsFull.dir, catalogRoomBytes);

  let failure: { code: grpc.status; details: string } | undefined;
  for (let calls = 0; failure === undefined; calls++) {
    assert.ok(calls < batchesMax, "the disk fills up");
    const outcome = await statusOf(tradeBatch(client, batchOf(sent), lastNumber).then(acknowledge));
    sent += tradesPerBatch;
    if (outcome !== "OK") failure = outcome;
  }
  assert.is(failure.code, grpc.status.UNAVAILABLE, `a failed journal append is UNAVAILABLE, got ${failure.code} ${failure.details}`);
  const again = await statusOf(tradeBatch(client, batchOf(sent), lastNumber));
  assert.ok(again !== "OK" && again.code === grpc.status.UNAVAILABLE, "later batches are refused too");
  const health = await statusOf(callUnary(client, client.health, {}, callTimeoutMs));
  assert.ok(health !== "OK" && health.code === grpc.status.UNAVAILABLE, "health reports the storage failure");
  assert.match(first.output(), "ENOSPC", "the log says why the catalog stopped acknowledging");
  process.stdout.write(`catalog on ${fsFull.kind}: last acknowledged number ${lastNumber}, then ${failure.details}\n`);
  first.kill("SIGKILL");
  await first.exited;

  // More room: the restarted catalog holds exactly the acknowledged trades.
  fs.rmSync(filler);
  const second = await startCatalog({ DATA_DIR: dataDir });
  const after = connect(second);
  const reloaded = await callUnary(after, after.health, {}, callTimeoutMs);
  assert.is(reloaded.lastNumber, lastNumber, "no trade after the last acknowledged one was loaded");
  for (const [name, acked] of ackedStocks) {
    assert.equal(await callUnary(after, after.lookup, { name }, callTimeoutMs), acked, `${name} is as its last acknowledged trade left it`);
  }
  // And it takes trades again, numbered right after the acknowledged ones.
  const next = await tradeBatch(after, batchOf(sent), lastNumber);
  assert.is(next.results[0]?.number, lastNumber + 1);
  second.kill("SIGKILL");
  await second.exited;
});

// --- A whole system: one order replica's disk fills up ---------------------------------------

type ReplicaHealth = { id: number; up: boolean; ready: boolean; role: string; liveFollowers: number[] };
type SystemHealth = { leader: number | null; replicas: ReplicaHealth[] };

/** The frontend's GET /health body (its `error.details` when degraded). */
async function systemHealth(cluster: LocalSystem): Promise<SystemHealth> {
  return await frontendHealth<SystemHealth>(cluster.url) as SystemHealth;
}

/**
 * True when the frontend's leader is ready and replicates to exactly `followers(leader)`: the
 * followers whose log matches the leader's up to its commit point.
 */
async function leaderReplicatesTo(cluster: LocalSystem, followers: (leader: number) => readonly number[]): Promise<boolean> {
  const h = await systemHealth(cluster);
  const leader = h.replicas.find((r) => r.id === h.leader && r.role === "leader" && r.ready);
  return leader !== undefined && [...leader.liveFollowers].sort().join() === followers(leader.id).join();
}

function filesIdentical(files: readonly string[]): boolean {
  const contents = files.map((file) => fs.readFileSync(file));
  return contents.every((c) => c.equals(contents[0] as Buffer));
}

function startLoad(cluster: LocalSystem, seed: number): TradeLoad {
  const load = new TradeLoad(cluster.url, tradeConcurrency, seed);
  loads.push(load);
  return load;
}

async function stopLoad(load: TradeLoad): Promise<void> {
  await load.stop();
  loads.splice(loads.indexOf(load), 1);
  assert.equal(load.errors, [], "every trade is answered (no 5xx, no connection error)");
  assert.equal(load.rejected, [], "every trade is answered 200 (no stock ran out)");
}

test("an order replica whose disk fills up stops acknowledging and says why; the other two carry on; nothing acknowledged is lost", async () => {
  const fsFull = tinyFs();
  if (fsFull === undefined) return;
  // Replica 1 keeps its log and vote on the tiny file system; the rest share the cluster's dataDir.
  const replicaEnv = { DATA_DIR: fsFull.dir };
  const cluster = await LocalSystem.start({ replicaEnv: { 1: replicaEnv } });
  clusters.push(cluster);
  const orderFile1 = path.join(fsFull.dir, "orders-1.csv");
  const first = cluster.replicas.get(1);
  assert.ok(first !== undefined);
  try {
    const filler = fill(fsFull.dir, replicaRoomBytes);

    // Trades until replica 1's disk is full, and then some more: every one answered 200.
    const load = startLoad(cluster, 1);
    const failureLine = (): string | undefined => first.output().split("\n").find((line) => line.includes("the disk failed"));
    await waitFor(() => failureLine() !== undefined || load.errors.length > 0, clusterWaitMs, "replica 1's disk to fill up");
    const ackedAtFailure = load.acked.length;
    await load.waitAcked(ackedAtFailure + ackedAfterFailureMin, clusterWaitMs);
    await stopLoad(load);

    // Replica 1 stays up, says why it stopped, and reports itself not ready.
    const line = failureLine() as string;
    const record = parseLogLine(line);
    assert.equal(
      [record?.["level"], record?.["service"], record?.["replica"]],
      ["error", "order", 1],
      `an error line of replica 1: ${line}`,
    );
    assert.match(line, "acknowledging nothing more until restarted");
    assert.match(line, "ENOSPC");
    assert.is(first.child.exitCode, null, "replica 1 did not exit");
    assert.is(first.child.signalCode, null, "replica 1 was not killed");
    const seen = (await systemHealth(cluster)).replicas.find((r) => r.id === 1);
    assert.ok(seen?.up === true && seen.ready === false, `replica 1 answers Health, not ready: ${JSON.stringify(seen)}`);
    // The leader goes on without replica 1: another replica leads if 1 was leading (a replica
    // whose disk failed is never the ready leader), and it no longer counts 1 as a live follower.
    await waitFor(
      () => leaderReplicatesTo(cluster, (leader) => [2, 3].filter((id) => id !== leader)),
      clusterWaitMs,
      "a leader other than 1 that replicates to the third replica only",
    );
    const leaderAfterFailure = (await systemHealth(cluster)).leader;

    // Replica 1's file holds whole lines only, and they are a prefix of the others' log.
    const full = (await waitFilesIdentical(cluster, [2, 3])).toString("utf8");
    const held = fs.readFileSync(orderFile1, "utf8");
    const read = await readLines(orderFile1);
    assert.is(read.tornTail, "", "no torn tail");
    assert.is(read.completeBytes, Buffer.byteLength(held));
    assert.ok(full.startsWith(held), "replica 1's log is a prefix of replica 2's");
    const heldOrders = readOrderLog(orderFile1).length;
    const allOrders = readOrderLog(cluster.orderFile(2)).length;
    assert.ok(heldOrders > 0 && heldOrders < allOrders, `replica 1 holds some orders but not all (${heldOrders} of ${allOrders})`);
    process.stdout.write(
      `replica 1 on ${fsFull.kind}: ${heldOrders} of ${allOrders} orders, leader ${leaderAfterFailure}; ${String(record?.["error"])}\n`,
    );

    // With room again and a restart, replica 1 catches up; trades go on meanwhile.
    fs.rmSync(filler);
    await cluster.kill(first);
    await cluster.startReplica(1, replicaEnv);
    const more = startLoad(cluster, 2);
    await more.waitAcked(ackedAfterRestartMin, clusterWaitMs);
    await stopLoad(more);
    const restarted = cluster.replicas.get(1);
    await waitFor(
      () => leaderReplicatesTo(cluster, (leader) => [1, 2, 3].filter((id) => id !== leader)),
      clusterWaitMs,
      "the leader to replicate to both other replicas again",
    );
    const orderFiles = [orderFile1, cluster.orderFile(2), cluster.orderFile(3)];
    await waitFor(() => filesIdentical(orderFiles), clusterWaitMs, "the three order logs to be byte-identical");
    assert.not.match(restarted?.output() ?? "", "the disk failed", "the restarted replica 1 writes with room to spare");
    await verifyGuarantees(cluster, [...load.acked, ...more.acked], [2, 3]);
  } catch (err) {
    process.stderr.write(`${cluster.logs().slice(-20_000)}\n`);
    throw err;
  }
});

test.run();
