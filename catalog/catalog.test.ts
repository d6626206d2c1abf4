// The catalog as a real process over real gRPC: configuration errors, corrupt and old-format
// files, lookups, TradeBatch (unary and on the TradeBatches stream) with its header refusals
// as gRPC statuses, health and pushed invalidations; the test-only lookup delay; a SIGKILL or
// SIGTERM in the middle of a leader's stream of batches (nothing acknowledged is lost; what
// was in flight is either applied whole and handed back as `missing`, or not at all); a
// graceful stop leaves files which parse.

import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CatalogClient, Invalidation, Stock, TradeBatchReply, TradeBatchRequest, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { callUnary, grpc } from "../lib/grpc.ts";
import { StreamCaller } from "../lib/stream_calls.ts";
import { readCatalog } from "./catalog_file.ts";
import {
  ForgottenTradesError,
  InvalidArgumentError,
  OverloadedError,
  SequenceAheadError,
  StaleEpochError,
  StockNotFoundError,
  StorageError,
  StoreClosedError,
  UncommittedWindowError,
} from "./errors.ts";
import { readJournal } from "./journal.ts";
import { tradeBatchMax } from "../lib/protocol.ts";
import { catalogPath, journalPath } from "./persistence.ts";
import { toStatus } from "./server.ts";
import { catalogClient, failureCode } from "../test/support/grpc_calls.ts";
import { exitOf, killAll, runToExit, startCatalog, tempDir } from "../test/support/processes.ts";
import { sleep } from "../lib/sleep.ts";
import { parseLogLine } from "../lib/log.ts";
import { waitFor } from "../test/support/wait.ts";
import { TradeBatcher } from "../test/support/trade_batcher.ts";

const callTimeoutMs = 5_000;
const clients: CatalogClient[] = [];

function track(client: CatalogClient): CatalogClient {
  clients.push(client);
  return client;
}

type Header = Omit<TradeBatchRequest, "trades">;

function header(epoch: number, afterNumber: number, commitNumber = afterNumber): Header {
  return { epoch, leaderId: 3, afterNumber, commitNumber };
}

const lookup = (c: CatalogClient, name: string): Promise<Stock> => callUnary(c, c.lookup, { name }, callTimeoutMs);
const batch = (c: CatalogClient, h: Header, trades: TradeRequest[]): Promise<TradeBatchReply> =>
  callUnary(c, c.tradeBatch, { ...h, trades }, callTimeoutMs);

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test.after(() => {
  for (const client of clients) client.close();
  killAll();
});

test("toStatus: each operating error becomes its gRPC status; anything else is rethrown", () => {
  const cases: [Error, grpc.status][] = [
    [new InvalidArgumentError("x"), grpc.status.INVALID_ARGUMENT],
    [new StockNotFoundError("x"), grpc.status.NOT_FOUND],
    [new OverloadedError("x"), grpc.status.RESOURCE_EXHAUSTED],
    [new UncommittedWindowError("x"), grpc.status.RESOURCE_EXHAUSTED],
    [new StaleEpochError("x"), grpc.status.FAILED_PRECONDITION],
    [new SequenceAheadError("x"), grpc.status.DATA_LOSS],
    [new ForgottenTradesError("x"), grpc.status.OUT_OF_RANGE],
    [new StoreClosedError(), grpc.status.UNAVAILABLE],
    [new StorageError("x"), grpc.status.UNAVAILABLE],
  ];
  for (const [err, code] of cases) assert.is(toStatus(err).code, code, err.name);
  assert.throws(() => toStatus(new TypeError("a bug")), /a bug/);
});

test("a bad setting stops the catalog with exit code 2 and one line naming the variable", async () => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: "http" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ CATALOG_LOOKUP_DELAY_MS: "-1" }, "CATALOG_LOOKUP_DELAY_MS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ HOST: "bad host!" }, "HOST"],
  ];
  const results = await Promise.all(
    cases.map(([env]) =>
      runToExit("catalog/main.ts", { HOST: "127.0.0.1", PORT: "0", DATA_DIR: tempDir("catalog-proc", true), ...env }, { timeoutMs: 30_000 })
    ),
  );
  for (const [i, [env, variable]] of cases.entries()) {
    const result = results[i] as Awaited<ReturnType<typeof runToExit>>;
    assert.is(result.code, 2, `${JSON.stringify(env)}: ${result.output}`);
    const lines = result.output.trim().split("\n");
    assert.is(lines.length, 1, result.output);
    assert.match(lines[0] as string, new RegExp(`configuration error: ${variable} `));
  }
});

/** The JSON log records in a process's output. */
function logRecords(output: string): Record<string, unknown>[] {
  return output.split("\n").flatMap((line): Record<string, unknown>[] => {
    const record = parseLogLine(line);
    return record === undefined ? [] : [record];
  });
}

test("a corrupt catalog.csv stops the catalog, naming the file and line", async () => {
  const dir = tempDir("catalog-proc", true);
  fs.writeFileSync(catalogPath(dir), "last_number,-1\nname,price,quantity,volume,version\nGameStart,15.99,lots,0,0\n");
  const result = await runToExit("catalog/main.ts", { HOST: "127.0.0.1", PORT: "0", DATA_DIR: dir }, { timeoutMs: 15_000 });
  assert.is(result.code, 1);
  assert.ok(
    logRecords(result.output).some((r) =>
      /^refusing to start: catalog\.csv line 3: quantity "lots" is not an integer/.test(String(r["msg"]))
    ),
    result.output,
  );
});

test("a journal of an older version stops the catalog with one line naming the file and the old format", async () => {
  const dir = tempDir("catalog-proc", true);
  fs.writeFileSync(
    journalPath(dir),
    "request_id,name,side,quantity,quantity_after,volume_after,version_after\ng1,GameStart,buy,1,99,1,1\n",
  );
  const result = await runToExit("catalog/main.ts", { HOST: "127.0.0.1", PORT: "0", DATA_DIR: dir }, { timeoutMs: 15_000 });
  assert.is(result.code, 1);
  const lines = result.output.trim().split("\n");
  assert.is(lines.length, 1, result.output);
  assert.match(lines[0] as string, /refusing to start: catalog-journal\.csv line 1: the format is from an older version of the catalog/);
});

test("lookup, TradeBatch (unary and streamed), refusals, health and pushed invalidations over gRPC", async () => {
  const catalog = await startCatalog({ DATA_DIR: tempDir("catalog-proc", true) });
  const client = track(catalogClient(catalog.port));
  assert.equal(await lookup(client, "GameStart"), { name: "GameStart", price: 15.99, quantity: 100, volume: 0, version: 0 });
  assert.is(await failureCode(lookup(client, "NoSuchCo")), grpc.status.NOT_FOUND);
  assert.is(await failureCode(lookup(client, "")), grpc.status.INVALID_ARGUMENT);
  assert.is(await failureCode(lookup(client, "x".repeat(1000))), grpc.status.INVALID_ARGUMENT);

  const seen: Invalidation[] = [];
  const stream = client.invalidations({ subscriber: "catalog.test" });
  stream.on("data", (inv: Invalidation) => seen.push(inv));
  stream.on("error", () => undefined);
  await new Promise((resolve) => stream.once("metadata", resolve));

  const bought = await batch(client, header(2, -1), [{ requestId: "g1", name: "GameStart", side: Side.SIDE_BUY, quantity: 1 }]);
  assert.equal([bought.results[0]?.status, bought.results[0]?.number, bought.results[0]?.stock?.quantity, bought.lastNumber], [
    TradeStatus.TRADE_OK,
    0,
    99,
    0,
  ]);
  await waitFor(() => seen.length === 1, 5_000, "GameStart invalidation");
  assert.equal(seen, [{ name: "GameStart", version: 1 }]);

  const streamed = new StreamCaller<TradeBatchRequest, TradeBatchReply>(() => client.tradeBatches());
  const both = await streamed.call({
    ...header(2, 0),
    trades: [
      { requestId: "b1", name: "FishCo", side: Side.SIDE_SELL, quantity: 2 },
      { requestId: "b2", name: "FishCo", side: Side.SIDE_SELL, quantity: 3 },
      { requestId: "b3", name: "NoSuchCo", side: Side.SIDE_SELL, quantity: 3 },
    ],
  }, callTimeoutMs);
  assert.equal(both.results.map((r) => [r.status, r.number]), [[TradeStatus.TRADE_OK, 1], [TradeStatus.TRADE_OK, 2], [
    TradeStatus.TRADE_UNKNOWN_STOCK,
    0,
  ]]);
  const behind = await streamed.call({ ...header(2, 1), trades: [] }, callTimeoutMs);
  assert.equal(behind.missing, [{ number: 2, epoch: 2, requestId: "b2", name: "FishCo", side: Side.SIDE_SELL, quantity: 3 }]);
  const stale = streamed.call({ ...header(1, 2), trades: [] }, callTimeoutMs);
  assert.is(await failureCode(stale), grpc.status.FAILED_PRECONDITION, "a refusal on the stream is the call's status");
  streamed.close();

  await batch(client, header(2, 2), [{ requestId: "h1", name: "BoarCo", side: Side.SIDE_BUY, quantity: 1 }]);
  await waitFor(() => seen.length === 3, 5_000, "BoarCo invalidation");
  assert.equal(seen, [{ name: "GameStart", version: 1 }, { name: "FishCo", version: 2 }, { name: "BoarCo", version: 1 }]);

  const tooMany = Array.from(
    { length: tradeBatchMax + 1 },
    (_, i) => ({ requestId: `x${i}`, name: "FishCo", side: Side.SIDE_SELL, quantity: 1 }),
  );
  assert.is(await failureCode(batch(client, header(2, 3), tooMany)), grpc.status.INVALID_ARGUMENT);
  assert.is(await failureCode(batch(client, header(0, 3), [])), grpc.status.INVALID_ARGUMENT);
  assert.is(await failureCode(batch(client, header(1, 3), [])), grpc.status.FAILED_PRECONDITION);
  assert.is(await failureCode(batch(client, header(2, 4), [])), grpc.status.DATA_LOSS);
  assert.equal(await callUnary(client, client.health, {}, callTimeoutMs), {
    stocks: 12,
    subscribers: 1,
    tradesApplied: 4,
    lastNumber: 3,
    epoch: 2,
  });
  stream.cancel();
  await waitFor(() => catalog.output().includes("subscriber left"), 5_000, "the subscriber to leave");
  assert.is((await callUnary(client, client.health, {}, callTimeoutMs)).subscribers, 0);
  catalog.kill("SIGTERM");
  assert.equal(await exitOf(catalog), { code: 0, signal: null });
  assert.ok(
    logRecords(catalog.output()).some((r) => r["msg"] === "new leader epoch" && r["epoch"] === 2 && r["leader_id"] === 3),
    "an epoch change is logged with the leader id",
  );
});

test("CATALOG_LOOKUP_DELAY_MS holds a lookup's reply past a later trade's invalidation", async () => {
  const catalog = await startCatalog({ DATA_DIR: tempDir("catalog-proc", true), CATALOG_LOOKUP_DELAY_MS: "400" });
  const client = track(catalogClient(catalog.port));
  await lookup(client, "MenhirCo");
  const slow = lookup(client, "MenhirCo");
  await sleep(100);
  const traded = await batch(client, header(1, -1), [{ requestId: "d1", name: "MenhirCo", side: Side.SIDE_SELL, quantity: 1 }]);
  assert.is(traded.results[0]?.stock?.version, 1);
  assert.is((await slow).version, 0, "the state read before the trade, answered after it");
  catalog.kill("SIGKILL");
  await catalog.exited;
});

const names = ["GameStart", "FishCo", "BoarCo", "MenhirCo"];

async function tradeUntilFailure(leader: TradeBatcher, worker: number, next: () => number): Promise<void> {
  for (let i = 0;; i++) {
    const request: TradeRequest = {
      requestId: `w${worker}-${i}`,
      name: names[Math.floor(next() * names.length)] as string,
      side: next() < 0.5 ? Side.SIDE_BUY : Side.SIDE_SELL,
      quantity: 1 + Math.floor(next() * 3),
    };
    try {
      await leader.submit(request);
    } catch {
      return;
    }
  }
}

/** What the applied trades add up to, per stock. */
function expectedStocks(trades: Iterable<TradeRequest>): Map<string, { quantity: number; version: number }> {
  const expected = new Map<string, { quantity: number; version: number }>();
  for (const request of trades) {
    const stock = expected.get(request.name) ?? { quantity: 100, version: 0 };
    stock.quantity += request.side === Side.SIDE_BUY ? -request.quantity : request.quantity;
    stock.version++;
    expected.set(request.name, stock);
  }
  return expected;
}

/**
 * Stop the catalog with `signal` while 32 workers trade through one batching leader, restart
 * it on the same DATA_DIR and check: every acknowledged trade is there under its number; the
 * batch in flight was applied whole or not at all, and if applied, the catalog hands it back
 * as `missing` after the last acknowledged number; the stocks add up; numbering continues.
 */
async function stopDuringTrades(signal: NodeJS.Signals): Promise<void> {
  const dir = tempDir("catalog-proc", true);
  const first = await startCatalog({ DATA_DIR: dir });
  const caller = new StreamCaller<TradeBatchRequest, TradeBatchReply>(() => track(catalogClient(first.port)).tradeBatches());
  const leader = new TradeBatcher((h, trades) => caller.call({ ...h, trades }, callTimeoutMs), 1, 3);
  const next = random(20251125);
  const workers = Array.from({ length: 32 }, (_, w) => tradeUntilFailure(leader, w, next));
  await waitFor(() => leader.numbered.size >= 300, 30_000, "300 numbered trades");
  // A varying extra wait moves the signal around the batcher's cycle (planning, fsync, reply).
  await sleep(Math.floor(next() * 15));
  first.kill(signal);
  await Promise.all(workers);
  caller.close();
  const exit = await exitOf(first);
  assert.equal(exit, signal === "SIGKILL" ? { code: null, signal } : { code: 0, signal: null }, first.output());
  assert.ok(leader.failed && leader.inFlight.length > 0, "a batch was in flight when the catalog stopped");
  assert.equal([...leader.numbered.keys()], Array.from({ length: leader.last + 1 }, (_, i) => i), "numbers 0..last, no gap");

  const second = await startCatalog({ DATA_DIR: dir });
  if (signal === "SIGTERM") {
    assert.ok(logRecords(second.output()).some((r) => r["replayed"] === 0), "a graceful stop checkpointed");
  }
  const again = track(catalogClient(second.port));
  const adopted = await batch(again, header(1, leader.last), []);
  const inFlightIds = leader.inFlight.map((t) => t.requestId);
  const missingIds = adopted.missing.map((t) => t.requestId);
  assert.equal(adopted.missing.map((t) => t.number), Array.from({ length: missingIds.length }, (_, i) => leader.last + 1 + i));
  assert.ok(missingIds.every((id) => inFlightIds.includes(id)), "only the batch in flight can be missing");
  assert.equal(missingIds, inFlightIds.filter((id) => missingIds.includes(id)), "in its order");
  if (process.env["TEST_VERBOSE"]) {
    process.stderr.write(
      `${signal}: numbered ${leader.numbered.size}, in flight ${inFlightIds.length} (${missingIds.length} of them applied)\n`,
    );
  }
  const byId = new Map(leader.inFlight.map((t) => [t.requestId, t]));
  const applied = [...leader.numbered.values(), ...missingIds.map((id) => byId.get(id) as TradeRequest)];
  const expected = expectedStocks(applied);
  const after = await Promise.all(names.map((n) => lookup(again, n)));
  for (const stock of after) {
    const want = expected.get(stock.name) ?? { quantity: 100, version: 0 };
    assert.equal({ quantity: stock.quantity, version: stock.version }, want, stock.name);
  }
  const last = adopted.missing.length > 0 ? leader.last + adopted.missing.length : leader.last;
  assert.is(adopted.lastNumber, last);
  const resumed = await batch(again, header(1, last), [{ requestId: "resume", name: "GameStart", side: Side.SIDE_SELL, quantity: 1 }]);
  assert.is(resumed.results[0]?.number, last + 1, "numbering continues after the adopted trades");
  second.kill("SIGTERM");
  assert.equal(await exitOf(second), { code: 0, signal: null });

  const checkpoint = await readCatalog(catalogPath(dir));
  assert.is(checkpoint?.lastNumber, last + 1);
  const journal = await readJournal(journalPath(dir));
  assert.is(journal.tornTail, "");
  assert.is(journal.rows[journal.rows.length - 1]?.row.number, last + 1);
}

test("SIGKILL during a leader's batches: every acknowledged trade survives; the batch in flight is all or nothing", async () => {
  await stopDuringTrades("SIGKILL");
});

test("SIGTERM during a leader's batches: the batch in flight finishes, exit 0, nothing lost", async () => {
  await stopDuringTrades("SIGTERM");
});

test.run();
