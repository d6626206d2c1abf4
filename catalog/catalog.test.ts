// The catalog as a real process over real gRPC: configuration errors, lookups, trades,
// batches, health and pushed invalidations; the test-only lookup delay; a SIGKILL in the
// middle of concurrent trades (nothing acknowledged is lost, nothing is applied twice, a
// retry is answered as a duplicate); a graceful SIGTERM that leaves files which parse.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CatalogClient, Invalidation, Stock, TradeReply, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { callUnary, grpc, isServiceError } from "../lib/grpc.ts";
import { readCatalog } from "./catalog_file.ts";
import { readJournal } from "./journal.ts";
import { tradeBatchMax } from "./limits.ts";
import { catalogPath, journalPath } from "./persistence.ts";
import { killAllCatalogs, runCatalogToExit, spawnCatalog } from "./spawn_catalog.ts";

const callTimeoutMs = 5_000;
const dirs: string[] = [];
const clients: CatalogClient[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-proc-"));
  dirs.push(dir);
  return dir;
}

function track(client: CatalogClient): CatalogClient {
  clients.push(client);
  return client;
}

const lookup = (c: CatalogClient, name: string): Promise<Stock> => callUnary(c, c.lookup, { name }, callTimeoutMs);
const trade = (c: CatalogClient, r: TradeRequest): Promise<TradeReply> => callUnary(c, c.trade, r, callTimeoutMs);

async function statusOf(promise: Promise<unknown>): Promise<grpc.status> {
  try {
    await promise;
  } catch (err) {
    if (isServiceError(err)) return err.code;
    throw err;
  }
  throw new Error("expected the call to fail");
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
  killAllCatalogs();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test("a bad setting stops the catalog with exit code 2 and one line naming the variable", async () => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: "http" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ CATALOG_LOOKUP_DELAY_MS: "-1" }, "CATALOG_LOOKUP_DELAY_MS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ HOST: "bad host!" }, "HOST"],
  ];
  const results = await Promise.all(cases.map(([env]) => runCatalogToExit({ DATA_DIR: tempDir(), ...env }, 30_000)));
  for (const [i, [env, variable]] of cases.entries()) {
    const result = results[i] as Awaited<ReturnType<typeof runCatalogToExit>>;
    assert.is(result.code, 2, `${JSON.stringify(env)}: ${result.output}`);
    const lines = result.output.trim().split("\n");
    assert.is(lines.length, 1, result.output);
    assert.match(lines[0] as string, new RegExp(`configuration error: ${variable} `));
  }
});

test("a corrupt catalog.csv stops the catalog, naming the file and line", async () => {
  const dir = tempDir();
  fs.writeFileSync(catalogPath(dir), "name,price,quantity,volume,version\nGameStart,15.99,lots,0,0\n");
  const result = await runCatalogToExit({ DATA_DIR: dir }, 15_000);
  assert.is(result.code, 1);
  assert.match(result.output, /refusing to start: catalog\.csv line 2: quantity "lots" is not an integer/);
});

test("lookup, trade, batch, health and pushed invalidations over gRPC", async () => {
  const catalog = await spawnCatalog({ DATA_DIR: tempDir() });
  const client = track(catalog.client());
  assert.equal(await lookup(client, "GameStart"), { name: "GameStart", price: 15.99, quantity: 100, volume: 0, version: 0 });
  assert.is(await statusOf(lookup(client, "NoSuchCo")), grpc.status.NOT_FOUND);
  assert.is(await statusOf(lookup(client, "")), grpc.status.INVALID_ARGUMENT);
  assert.is(await statusOf(lookup(client, "x".repeat(1000))), grpc.status.INVALID_ARGUMENT);

  const seen: Invalidation[] = [];
  const stream = client.invalidations({ subscriber: "catalog.test" });
  stream.on("data", (inv: Invalidation) => seen.push(inv));
  stream.on("error", () => undefined);
  await new Promise((resolve) => stream.once("metadata", resolve));

  const bought = await trade(client, { requestId: "g1", name: "GameStart", side: Side.SIDE_BUY, quantity: 1 });
  assert.equal([bought.status, bought.stock?.quantity, bought.stock?.version], [TradeStatus.TRADE_OK, 99, 1]);
  await until("GameStart invalidation", () => seen.length === 1);
  assert.equal(seen, [{ name: "GameStart", version: 1 }]);

  const batch = await callUnary(client, client.tradeBatch, { trades: [
    { requestId: "b1", name: "FishCo", side: Side.SIDE_SELL, quantity: 2 },
    { requestId: "b2", name: "FishCo", side: Side.SIDE_SELL, quantity: 3 },
    { requestId: "b3", name: "NoSuchCo", side: Side.SIDE_SELL, quantity: 3 },
  ] }, callTimeoutMs);
  assert.equal(batch.results.map((r) => r.status), [TradeStatus.TRADE_OK, TradeStatus.TRADE_OK, TradeStatus.TRADE_UNKNOWN_STOCK]);
  const retry = await trade(client, { requestId: "g1", name: "GameStart", side: Side.SIDE_BUY, quantity: 1 });
  assert.equal([retry.duplicate, retry.stock], [true, bought.stock]);
  await trade(client, { requestId: "h1", name: "BoarCo", side: Side.SIDE_BUY, quantity: 1 });
  await until("BoarCo invalidation", () => seen.length === 3);
  assert.equal(seen, [{ name: "GameStart", version: 1 }, { name: "FishCo", version: 2 }, { name: "BoarCo", version: 1 }]);

  const tooMany = Array.from({ length: tradeBatchMax + 1 }, (_, i) => ({ requestId: `x${i}`, name: "FishCo", side: Side.SIDE_SELL, quantity: 1 }));
  assert.is(await statusOf(callUnary(client, client.tradeBatch, { trades: tooMany }, callTimeoutMs)), grpc.status.INVALID_ARGUMENT);
  assert.equal(await callUnary(client, client.health, {}, callTimeoutMs), { stocks: 12, subscribers: 1, tradesApplied: 4 });
  stream.cancel();
  await until("the subscriber to leave", () => catalog.output().includes("subscriber left"));
  assert.is((await callUnary(client, client.health, {}, callTimeoutMs)).subscribers, 0);
  catalog.kill("SIGTERM");
  assert.equal(await catalog.exited, { code: 0, signal: null });
});

test("CATALOG_LOOKUP_DELAY_MS holds a lookup's reply past a later trade's invalidation", async () => {
  const catalog = await spawnCatalog({ DATA_DIR: tempDir(), CATALOG_LOOKUP_DELAY_MS: "400" });
  const client = track(catalog.client());
  await lookup(client, "MenhirCo");
  const slow = lookup(client, "MenhirCo");
  await new Promise((r) => setTimeout(r, 100));
  const traded = await trade(client, { requestId: "d1", name: "MenhirCo", side: Side.SIDE_SELL, quantity: 1 });
  assert.is(traded.stock?.version, 1);
  assert.is((await slow).version, 0, "the state read before the trade, answered after it");
  catalog.kill("SIGKILL");
  await catalog.exited;
});

type Sent = { readonly request: TradeRequest; reply?: TradeReply; unknown?: boolean };

async function tradeUntilFailure(client: CatalogClient, worker: number, next: () => number, sent: Sent[]): Promise<void> {
  const names = ["GameStart", "FishCo", "BoarCo", "MenhirCo"];
  for (let i = 0; ; i++) {
    const request: TradeRequest = {
      requestId: `w${worker}-${i}`,
      name: names[Math.floor(next() * names.length)] as string,
      side: next() < 0.5 ? Side.SIDE_BUY : Side.SIDE_SELL,
      quantity: 1 + Math.floor(next() * 3),
    };
    const entry: Sent = { request };
    sent.push(entry);
    try {
      entry.reply = await trade(client, request);
    } catch {
      entry.unknown = true;
      return;
    }
  }
}

/** What the acknowledged (OK) trades add up to, per stock. */
function expectedStocks(entries: readonly Sent[]): Map<string, { quantity: number; version: number }> {
  const expected = new Map<string, { quantity: number; version: number }>();
  for (const { request, reply } of entries) {
    if (reply?.status !== TradeStatus.TRADE_OK) continue;
    const stock = expected.get(request.name) ?? { quantity: 100, version: 0 };
    stock.quantity += request.side === Side.SIDE_BUY ? -request.quantity : request.quantity;
    stock.version++;
    expected.set(request.name, stock);
  }
  return expected;
}

/**
 * Stop the catalog with `signal` in the middle of 32 concurrent trade loops, restart it on
 * the same DATA_DIR, and check exactly-once: acknowledged trades are all there (a retry is a
 * duplicate that changes nothing), trades in flight are applied at most once when retried.
 */
async function stopDuringTrades(signal: NodeJS.Signals): Promise<void> {
  const dir = tempDir();
  const first = await spawnCatalog({ DATA_DIR: dir });
  const client = track(first.client());
  const sent: Sent[] = [];
  const next = random(20251125);
  const workers = Array.from({ length: 32 }, (_, w) => tradeUntilFailure(client, w, next, sent));
  await until("300 acknowledged trades", () => sent.filter((s) => s.reply).length >= 300, 30_000);
  // A varying extra wait moves the signal around the batcher's cycle (planning, fsync, reply).
  await new Promise((r) => setTimeout(r, Math.floor(next() * 15)));
  first.kill(signal);
  await Promise.all(workers);
  const exit = await first.exited;
  assert.equal(exit, signal === "SIGKILL" ? { code: null, signal } : { code: 0, signal: null }, first.output());
  const acked = sent.filter((s) => s.reply !== undefined);
  const unknown = sent.filter((s) => s.unknown === true);
  assert.is(unknown.length, 32, "each worker stops at its first failed call");

  const second = await spawnCatalog({ DATA_DIR: dir });
  if (signal === "SIGTERM") assert.match(second.output(), /replayed=0\b/, "a graceful stop checkpointed");
  const again = track(second.client());
  const names = ["GameStart", "FishCo", "BoarCo", "MenhirCo"];
  const before = await Promise.all(names.map((n) => lookup(again, n)));
  const applied = acked.filter((s) => s.reply?.status === TradeStatus.TRADE_OK);
  const retries = await Promise.all(applied.map((entry) => trade(again, entry.request)));
  for (const [i, retry] of retries.entries()) {
    assert.equal([retry.status, retry.duplicate, retry.stock], [TradeStatus.TRADE_OK, true, applied[i]?.reply?.stock]);
  }
  assert.equal(await Promise.all(names.map((n) => lookup(again, n))), before, "retries of acknowledged trades change nothing");
  // The order leader retries what it never heard back about; each is applied at most once.
  for (const entry of unknown) entry.reply = await trade(again, entry.request);
  if (process.env["TEST_VERBOSE"]) {
    const applied = unknown.filter((s) => s.reply?.duplicate).length;
    process.stderr.write(`${signal}: acked ${acked.length}, in flight ${unknown.length} (${applied} of them had been applied)\n`);
  }

  const expected = expectedStocks(sent);
  const after = await Promise.all(names.map((n) => lookup(again, n)));
  for (const stock of after) {
    const want = expected.get(stock.name) ?? { quantity: 100, version: 0 };
    assert.equal({ quantity: stock.quantity, version: stock.version }, want, stock.name);
  }
  second.kill("SIGTERM");
  assert.equal(await second.exited, { code: 0, signal: null });

  const table = await readCatalog(catalogPath(dir));
  for (const stock of after) assert.equal(table?.get(stock.name)?.version, stock.version);
  const journal = await readJournal(journalPath(dir));
  assert.is(journal.tornTail, "");
  assert.ok(journal.rows.length > 0);
}

test("SIGKILL during concurrent trades: every acknowledged trade survives, exactly once", async () => {
  await stopDuringTrades("SIGKILL");
});

test("SIGTERM during concurrent trades: in-flight trades finish, exit 0, nothing lost", async () => {
  await stopDuringTrades("SIGTERM");
});

test.run();
