// Crash safety of DATA_DIR: restarts after a clean close and after a crash (the store is
// abandoned without closing) keep the stocks, the numbering, the retained trades and the epoch
// fence; torn journal tails; corrupt files and files of an older version refused with their
// line number; compaction that keeps the most recent trades and the last number; replay that
// is idempotent.

import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TradeBatchReply, TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { Logger } from "../lib/log.ts";
import { catalogHeader, formatCatalog, initialTable, parseCatalog } from "./catalog_file.ts";
import { CorruptFileError, ForgottenTradesError, StaleEpochError } from "./errors.ts";
import { journalHeader, readJournal } from "./journal.ts";
import { catalogPath, epochPath, journalPath } from "./persistence.ts";
import type { StoreOptions, TradeBatchHeader } from "./store.ts";
import { Store } from "./store.ts";
import { tempDir } from "../test/support/processes.ts";
import { rejects } from "../test/support/throws.ts";

const log = new Logger("catalog-test", {}, "silent");

function open(dir: string, options: Partial<StoreOptions> = {}): Promise<Store> {
  return Store.open({ dir, log, ...options });
}

function sell(name: string, quantity: number, requestId: string): TradeRequest {
  return { requestId, name, side: Side.SIDE_SELL, quantity };
}
function buy(name: string, quantity: number, requestId: string): TradeRequest {
  return { requestId, name, side: Side.SIDE_BUY, quantity };
}

function header(epoch: number, afterNumber: number): TradeBatchHeader {
  return { epoch, leaderId: 2, afterNumber, commitNumber: afterNumber };
}

/** Send one batch after `afterNumber`, expecting it applied (no missing trades). */
async function send(store: Store, epoch: number, afterNumber: number, requests: TradeRequest[]): Promise<TradeBatchReply> {
  const reply = await store.tradeBatch(header(epoch, afterNumber), requests);
  assert.equal(reply.missing, []);
  return reply;
}

function openFails(dir: string): Promise<CorruptFileError> {
  return rejects(open(dir), CorruptFileError);
}

test("missing files mean the initial catalog; catalog.csv and the journal are written and parse", async () => {
  const dir = tempDir("catalog-persist", true);
  const store = await open(dir);
  await store.close();
  assert.equal(parseCatalog(fs.readFileSync(catalogPath(dir), "utf8")), { stocks: initialTable(), lastNumber: -1 });
  assert.ok(fs.readFileSync(catalogPath(dir), "utf8").startsWith(`last_number,-1\n${catalogHeader}\n`));
  assert.is(fs.readFileSync(journalPath(dir), "utf8"), `${journalHeader}\n`);
  assert.is(fs.existsSync(epochPath(dir)), false, "no epoch seen, no epoch file");
});

test("temp files of an interrupted replacement are removed at start; other files are kept", async () => {
  const dir = tempDir("catalog-persist", true);
  fs.writeFileSync(path.join(dir, "catalog.csv.tmp-12345"), "name,pri");
  fs.writeFileSync(path.join(dir, "catalog-journal.csv.tmp-12345"), "request_id");
  fs.writeFileSync(path.join(dir, "catalog-epoch.txt.tmp-12345"), "ep");
  fs.writeFileSync(path.join(dir, "orders-1.csv"), "");
  const store = await open(dir);
  await store.close();
  assert.equal(fs.readdirSync(dir).sort(), ["catalog-journal.csv", "catalog.csv", "orders-1.csv"]);
});

test("restart after close: the stocks, the numbering, the kept trades and the epoch survive", async () => {
  const dir = tempDir("catalog-persist", true);
  const first = await open(dir);
  const applied = await send(first, 4, -1, [buy("GameStart", 7, "keep-1"), sell("FishCo", 3, "keep-2")]);
  await first.close();
  assert.equal(fs.readFileSync(epochPath(dir), "utf8"), "epoch\n4\n");
  const second = await open(dir);
  assert.equal(await second.lookup("GameStart"), applied.results[0]?.stock);
  assert.is((await second.lookup("FishCo")).quantity, 103);
  assert.equal(await second.health(), { stocks: 12, tradesApplied: 2, lastNumber: 1, epoch: 4 });
  const missing = await second.tradeBatch(header(4, -1), []);
  assert.equal(missing.missing.map((t) => [t.number, t.epoch, t.requestId]), [[0, 4, "keep-1"], [1, 4, "keep-2"]]);
  const next = await send(second, 4, 1, [sell("GameStart", 1, "keep-3"), buy("GameStart", 1, "keep-1")]);
  assert.equal(
    next.results.map((r) => [r.status, r.number]),
    [[TradeStatus.TRADE_OK, 2], [TradeStatus.TRADE_INVALID, 0]],
    "numbering continues; a numbered id is still known",
  );
  await second.close();
});

test("restart after a crash: the journal replays every acknowledged trade with its number and epoch", async () => {
  const dir = tempDir("catalog-persist", true);
  const crashed = await open(dir);
  for (let i = 0; i < 20; i++) {
    await send(crashed, 1 + Math.floor(i / 10), i - 1, [i % 2 === 0 ? sell("BoarCo", 2, `c${i}`) : buy("BoarCo", 1, `c${i}`)]);
  }
  // Abandoned without close(): catalog.csv is still the one written at open.
  assert.equal(parseCatalog(fs.readFileSync(catalogPath(dir), "utf8")).lastNumber, -1);
  const store = await open(dir);
  assert.equal(await store.lookup("BoarCo"), { name: "BoarCo", price: 22.25, quantity: 110, volume: 30, version: 20 });
  assert.equal(await store.health(), { stocks: 12, tradesApplied: 20, lastNumber: 19, epoch: 2 });
  const missing = await store.tradeBatch(header(2, 8), []);
  assert.equal(missing.missing.map((t) => [t.number, t.epoch]).slice(0, 2), [[9, 1], [10, 2]]);
  assert.is(missing.missing.length, 11);
  await store.close();
});

test("the epoch fence is durable: an epoch seen only through a missing reply or an empty batch survives a crash", async () => {
  const dir = tempDir("catalog-persist", true);
  const first = await open(dir);
  await send(first, 1, -1, [sell("ShieldCo", 1, "f0")]);
  await first.tradeBatch(header(3, -1), []);
  // Abandoned without close(): the epoch was recorded before the reply.
  const second = await open(dir);
  assert.is((await second.health()).epoch, 3);
  await rejects(second.tradeBatch(header(2, 0), [sell("ShieldCo", 1, "f1")]), StaleEpochError);
  await second.tradeBatch(header(5, 0), []);
  const third = await open(dir);
  await rejects(third.tradeBatch(header(4, 0), []), StaleEpochError);
  assert.equal(await third.health(), { stocks: 12, tradesApplied: 1, lastNumber: 0, epoch: 5 });
  await third.close();
});

test("the epoch is the larger of catalog-epoch.txt's and the last journal row's", async () => {
  const dir = tempDir("catalog-persist", true);
  const first = await open(dir);
  await send(first, 6, -1, [sell("ShieldCo", 1, "g0")]);
  await first.close();
  fs.rmSync(epochPath(dir));
  const second = await open(dir);
  assert.is((await second.health()).epoch, 6, "from the row");
  await second.close();
  fs.writeFileSync(epochPath(dir), "epoch\n9\n");
  const third = await open(dir);
  assert.is((await third.health()).epoch, 9, "from the file");
  await third.close();
});

test("a torn last journal line is dropped and the journal stays appendable", async () => {
  const dir = tempDir("catalog-persist", true);
  const crashed = await open(dir);
  await send(crashed, 1, -1, [sell("MenhirCo", 5, "t1")]);
  fs.appendFileSync(journalPath(dir), "1,1,t2,MenhirCo,sell,5,11");
  const store = await open(dir);
  assert.is((await store.lookup("MenhirCo")).quantity, 105);
  assert.is((await store.health()).lastNumber, 0, "the torn trade was never acknowledged");
  assert.equal((await send(store, 1, 0, [sell("MenhirCo", 5, "t2")])).results[0]?.number, 1);
  await store.close();
  const journal = await readJournal(journalPath(dir));
  assert.is(journal.tornTail, "");
  assert.equal(journal.rows.map((r) => [r.row.number, r.row.requestId]), [[0, "t1"], [1, "t2"]]);
});

test("a torn header of a new journal is dropped too", async () => {
  const dir = tempDir("catalog-persist", true);
  fs.writeFileSync(journalPath(dir), "number,epoch,req");
  const store = await open(dir);
  await send(store, 1, -1, [sell("FishCo", 1, "h1")]);
  await store.close();
  assert.is((await readJournal(journalPath(dir))).rows.length, 1);
});

const stocksHeader = `last_number,-1\n${catalogHeader}`;
const corruptCatalogs: [string, string, number][] = [
  ["no last_number line", "GameStart,15.99,100,0,0\n", 1],
  ["last_number not an integer", `last_number,x\n${catalogHeader}\nGameStart,15.99,100,0,0\n`, 1],
  ["last_number below -1", `last_number,-2\n${catalogHeader}\nGameStart,15.99,100,0,0\n`, 1],
  ["bad header", "last_number,-1\nname,price\nGameStart,15.99,100,0,0\n", 2],
  ["too few fields", `${stocksHeader}\nGameStart,15.99,100,0,0\nFishCo,7.5,100,0\n`, 4],
  ["quantity not an integer", `${stocksHeader}\nGameStart,15.99,1e2,0,0\n`, 3],
  ["negative volume", `${stocksHeader}\nGameStart,15.99,100,-1,0\n`, 3],
  ["price not a number", `${stocksHeader}\nGameStart,abc,100,0,0\n`, 3],
  ["duplicate stock", `${stocksHeader}\nGameStart,15.99,100,0,0\nGameStart,15.99,100,0,0\n`, 4],
  ["no trailing newline", `${stocksHeader}\nGameStart,15.99,100,0,0`, 3],
  ["no stocks", `${stocksHeader}\n`, 3],
];

for (const [what, text, line] of corruptCatalogs) {
  test(`corrupt catalog.csv (${what}) is refused with line ${line}`, async () => {
    const dir = tempDir("catalog-persist", true);
    fs.writeFileSync(catalogPath(dir), text);
    const err = await openFails(dir);
    assert.is(err.file, "catalog.csv");
    assert.is(err.line, line);
    assert.ok(err.message.startsWith(`catalog.csv line ${line}: `), err.message);
  });
}

test("a catalog.csv of an older version (no last_number line) is refused as such, not migrated", async () => {
  const dir = tempDir("catalog-persist", true);
  fs.writeFileSync(catalogPath(dir), `${catalogHeader}\nGameStart,15.99,100,0,0\n`);
  const err = await openFails(dir);
  assert.match(err.message, /^catalog\.csv line 1: the format is from an older version of the catalog/);
});

test("a journal of an older version (rows without number and epoch) is refused as such, not migrated", async () => {
  const dir = tempDir("catalog-persist", true);
  fs.writeFileSync(
    journalPath(dir),
    "request_id,name,side,quantity,quantity_after,volume_after,version_after\nj1,GameStart,buy,1,99,1,1\n",
  );
  const err = await openFails(dir);
  assert.is(err.file, "catalog-journal.csv");
  assert.match(err.message, /^catalog-journal\.csv line 1: the format is from an older version of the catalog/);
});

const row0 = "0,1,j0,GameStart,buy,1,99,1,1";
const corruptJournals: [string, string[], number][] = [
  ["bad header", ["number,epoch,request_id", row0], 1],
  ["too many fields", [journalHeader, row0, "1,1,j1,GameStart,buy,1,98,2,2,9"], 3],
  ["bad side", [journalHeader, "0,1,j0,GameStart,hold,1,99,1,1"], 2],
  ["number not an integer", [journalHeader, "x,1,j0,GameStart,buy,1,99,1,1"], 2],
  ["epoch 0", [journalHeader, "0,0,j0,GameStart,buy,1,99,1,1"], 2],
  ["unknown stock", [journalHeader, "0,1,j0,NoSuchCo,buy,1,99,1,1"], 2],
  ["number gap", [journalHeader, row0, "2,1,j1,GameStart,buy,1,98,2,2"], 3],
  ["number repeated", [journalHeader, row0, "0,1,j1,GameStart,buy,1,98,2,2"], 3],
  ["epoch goes back", [journalHeader, "0,2,j0,GameStart,buy,1,99,1,1", "1,1,j1,GameStart,buy,1,98,2,2"], 3],
  ["version gap", [journalHeader, row0, "1,1,j1,GameStart,buy,1,98,2,3"], 3],
  ["quantity_after does not follow", [journalHeader, row0, "1,1,j1,GameStart,buy,1,97,2,2"], 3],
  ["version goes back", [journalHeader, row0, "1,1,j1,GameStart,buy,1,98,2,2", "2,1,j2,GameStart,buy,1,98,2,1"], 4],
  ["first row after a gap from catalog.csv", [journalHeader, "1,1,j1,GameStart,buy,1,99,1,1"], 2],
];

for (const [what, lines, line] of corruptJournals) {
  test(`corrupt journal (${what}) is refused with line ${line}`, async () => {
    const dir = tempDir("catalog-persist", true);
    fs.writeFileSync(journalPath(dir), `${lines.join("\n")}\n`);
    const err = await openFails(dir);
    assert.is(err.file, "catalog-journal.csv");
    assert.is(err.line, line);
  });
}

test("a corrupt catalog-epoch.txt is refused with its line", async () => {
  for (const [text, line] of [["epoch\nfive\n", 2], ["epoch\n0\n", 2], ["era\n5\n", 1], ["epoch\n5", 2], ["epoch\n5\n6\n", 3]] as const) {
    const dir = tempDir("catalog-persist", true);
    fs.writeFileSync(epochPath(dir), text);
    const err = await openFails(dir);
    assert.equal([err.file, err.line], ["catalog-epoch.txt", line], JSON.stringify(text));
  }
});

test("compaction keeps the most recent trades across a restart, and no more", async () => {
  const dir = tempDir("catalog-persist", true);
  const options = { retainedTradesMax: 5, checkpointTradesInterval: 4 };
  const first = await open(dir, options);
  for (let i = 0; i < 12; i++) await send(first, 1, i - 1, [sell("PotionCo", 1, `r${i}`)]);
  assert.ok(first.checkpoints >= 3, "checkpoints ran every 4 trades");
  assert.ok((await readJournal(journalPath(dir))).rows.length <= 5 + 4);
  await first.close();
  assert.equal((await readJournal(journalPath(dir))).rows.map((r) => r.row.number), [7, 8, 9, 10, 11]);
  assert.is(parseCatalog(fs.readFileSync(catalogPath(dir), "utf8")).lastNumber, 11);
  const second = await open(dir, options);
  assert.is((await second.lookup("PotionCo")).quantity, 112);
  const kept = await second.tradeBatch(header(1, 6), []);
  assert.equal(kept.missing.map((t) => t.requestId), ["r7", "r8", "r9", "r10", "r11"]);
  await rejects(second.tradeBatch(header(1, 5), []), ForgottenTradesError);
  const again = await send(second, 1, 11, [sell("PotionCo", 1, "r7"), sell("PotionCo", 1, "r0")]);
  assert.equal(
    again.results.map((r) => [r.status, r.number]),
    [[TradeStatus.TRADE_INVALID, 0], [TradeStatus.TRADE_OK, 12]],
    "a kept id is refused; the oldest was forgotten",
  );
  await second.close();
});

test("a journal with no rows: the last number comes from catalog.csv and numbering continues after it", async () => {
  const dir = tempDir("catalog-persist", true);
  const first = await open(dir);
  await send(first, 2, -1, [sell("BardCo", 1, "z0"), sell("BardCo", 1, "z1"), sell("BardCo", 1, "z2")]);
  await first.close();
  fs.writeFileSync(journalPath(dir), `${journalHeader}\n`);
  const second = await open(dir);
  assert.equal(await second.health(), { stocks: 12, tradesApplied: 3, lastNumber: 2, epoch: 2 });
  await rejects(second.tradeBatch(header(2, 1), []), ForgottenTradesError);
  assert.equal((await send(second, 2, 2, [sell("BardCo", 1, "z3")])).results[0]?.number, 3);
  await second.close();
});

test("a crash between catalog.csv and compaction: replaying the old journal changes nothing", async () => {
  const dir = tempDir("catalog-persist", true);
  const store = await open(dir);
  for (let i = 0; i < 6; i++) await send(store, 1, i - 1, [buy("DruidCo", 2, `i${i}`)]);
  const fullJournal = fs.readFileSync(journalPath(dir), "utf8");
  await store.close();
  fs.writeFileSync(journalPath(dir), fullJournal);
  const again = await open(dir);
  assert.equal(await again.lookup("DruidCo"), { name: "DruidCo", price: 63.1, quantity: 88, volume: 12, version: 6 });
  assert.is((await again.health()).lastNumber, 5);
  await again.close();
  const reopened = await open(dir);
  assert.is((await reopened.lookup("DruidCo")).version, 6);
  await reopened.close();
});

test("a compacted journal without its catalog.csv is refused, not replayed from zero", async () => {
  const dir = tempDir("catalog-persist", true);
  const options = { retainedTradesMax: 3, checkpointTradesInterval: 2 };
  const store = await open(dir, options);
  for (let i = 0; i < 6; i++) await send(store, 1, i - 1, [sell("BardCo", 1, `m${i}`)]);
  await store.close();
  fs.rmSync(catalogPath(dir));
  const err = await openFails(dir);
  assert.match(err.message, /number 3 does not follow catalog\.csv's last_number -1/);
});

test("a journal that ends before catalog.csv's last number is refused", async () => {
  const dir = tempDir("catalog-persist", true);
  const store = await open(dir);
  await send(store, 1, -1, [sell("BardCo", 1, "e0"), sell("BardCo", 1, "e1")]);
  await store.close();
  const lines = fs.readFileSync(journalPath(dir), "utf8").split("\n");
  fs.writeFileSync(journalPath(dir), `${lines.slice(0, 2).join("\n")}\n`);
  const err = await openFails(dir);
  assert.equal([err.file, err.line], ["catalog-journal.csv", 2]);
  assert.match(err.message, /ends at number 0, before catalog\.csv's last_number 1/);
});

test("rows are validated before writing: formatCatalog refuses an invalid stock", () => {
  const table = initialTable();
  table.set("Bad,Name", { price: 1, quantity: 1, volume: 0, version: 0 });
  assert.throws(() => formatCatalog(table, -1), /assertion failed/);
});

test("a trade that failed leaves no journal row", async () => {
  const dir = tempDir("catalog-persist", true);
  const store = await open(dir);
  assert.is((await send(store, 1, -1, [buy("ShieldCo", 1000, "big")])).results[0]?.status, TradeStatus.TRADE_INSUFFICIENT_QUANTITY);
  await store.close();
  assert.is((await readJournal(journalPath(dir))).rows.length, 0);
});

test.run();
