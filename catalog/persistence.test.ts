// Crash safety of DATA_DIR: restarts after a clean close and after a crash (the store is
// abandoned without closing), torn journal tails, corrupt files refused with their line
// number, compaction that keeps the dedupe record, and replay that is idempotent.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TradeRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { Logger } from "../lib/log.ts";
import { catalogHeader, formatCatalog, initialTable, parseCatalog } from "./catalog_file.ts";
import { CorruptFileError } from "./errors.ts";
import { journalHeader, readJournal } from "./journal.ts";
import { catalogPath, journalPath } from "./persistence.ts";
import type { StoreOptions } from "./store.ts";
import { Store } from "./store.ts";

const log = new Logger("catalog-test", {}, "silent");
const dirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-persist-"));
  dirs.push(dir);
  return dir;
}

function open(dir: string, options: Partial<StoreOptions> = {}): Promise<Store> {
  return Store.open({ dir, log, ...options });
}

function sell(name: string, quantity: number, requestId: string): TradeRequest {
  return { requestId, name, side: Side.SIDE_SELL, quantity };
}
function buy(name: string, quantity: number, requestId: string): TradeRequest {
  return { requestId, name, side: Side.SIDE_BUY, quantity };
}

async function openFails(dir: string): Promise<CorruptFileError> {
  try {
    await open(dir);
  } catch (err) {
    assert.instance(err, CorruptFileError);
    return err as CorruptFileError;
  }
  throw new Error("expected the store to refuse to open");
}

test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test("missing files mean the initial catalog; both files are written and parse", async () => {
  const dir = tempDir();
  const store = await open(dir);
  await store.close();
  assert.equal(parseCatalog(fs.readFileSync(catalogPath(dir), "utf8")), initialTable());
  assert.is(fs.readFileSync(journalPath(dir), "utf8"), `${journalHeader}\n`);
});

test("temp files of an interrupted checkpoint are removed at start; other files are kept", async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, "catalog.csv.tmp-12345"), "name,pri");
  fs.writeFileSync(path.join(dir, "catalog-journal.csv.tmp-12345"), "request_id");
  fs.writeFileSync(path.join(dir, "orders-1.csv"), "");
  const store = await open(dir);
  await store.close();
  assert.equal(fs.readdirSync(dir).sort(), ["catalog-journal.csv", "catalog.csv", "orders-1.csv"]);
});

test("restart after close: the state and the dedupe record survive", async () => {
  const dir = tempDir();
  const first = await open(dir);
  const applied = await first.trade(buy("GameStart", 7, "keep-1"));
  await first.trade(sell("FishCo", 3, "keep-2"));
  await first.close();
  const second = await open(dir);
  assert.equal(await second.lookup("GameStart"), applied.stock);
  assert.is((await second.lookup("FishCo")).quantity, 103);
  const retry = await second.trade(buy("GameStart", 7, "keep-1"));
  assert.equal([retry.duplicate, retry.stock], [true, applied.stock]);
  assert.is((await second.lookup("GameStart")).version, 1);
  await second.close();
});

test("restart after a crash: the journal replays every acknowledged trade", async () => {
  const dir = tempDir();
  const crashed = await open(dir);
  for (let i = 0; i < 20; i++) await crashed.trade(i % 2 === 0 ? sell("BoarCo", 2, `c${i}`) : buy("BoarCo", 1, `c${i}`));
  // Abandoned without close(): catalog.csv is still the one written at open.
  assert.is(parseCatalog(fs.readFileSync(catalogPath(dir), "utf8")).get("BoarCo")?.version, 0);
  const store = await open(dir);
  assert.equal(await store.lookup("BoarCo"), { name: "BoarCo", price: 22.25, quantity: 110, volume: 30, version: 20 });
  assert.is((await store.trade(buy("BoarCo", 1, "c3"))).duplicate, true);
  await store.close();
});

test("a torn last journal line is dropped and the journal stays appendable", async () => {
  const dir = tempDir();
  const crashed = await open(dir);
  await crashed.trade(sell("MenhirCo", 5, "t1"));
  fs.appendFileSync(journalPath(dir), "t2,MenhirCo,sell,5,11");
  const store = await open(dir);
  assert.is((await store.lookup("MenhirCo")).quantity, 105);
  assert.is((await store.trade(sell("MenhirCo", 5, "t2"))).duplicate, false, "the torn trade was never acknowledged");
  await store.close();
  const journal = await readJournal(journalPath(dir));
  assert.is(journal.tornTail, "");
  assert.equal(journal.rows.map((r) => r.row.requestId), ["t1", "t2"]);
});

test("a torn header of a new journal is dropped too", async () => {
  const dir = tempDir();
  fs.writeFileSync(journalPath(dir), "request_id,na");
  const store = await open(dir);
  await store.trade(sell("FishCo", 1, "h1"));
  await store.close();
  assert.is((await readJournal(journalPath(dir))).rows.length, 1);
});

const corruptCatalogs: [string, string, number][] = [
  ["bad header", "name,price\nGameStart,15.99,100,0,0\n", 1],
  ["too few fields", `${catalogHeader}\nGameStart,15.99,100,0,0\nFishCo,7.5,100,0\n`, 3],
  ["quantity not an integer", `${catalogHeader}\nGameStart,15.99,1e2,0,0\n`, 2],
  ["negative volume", `${catalogHeader}\nGameStart,15.99,100,-1,0\n`, 2],
  ["price not a number", `${catalogHeader}\nGameStart,abc,100,0,0\n`, 2],
  ["duplicate stock", `${catalogHeader}\nGameStart,15.99,100,0,0\nGameStart,15.99,100,0,0\n`, 3],
  ["no trailing newline", `${catalogHeader}\nGameStart,15.99,100,0,0`, 2],
  ["no stocks", `${catalogHeader}\n`, 2],
];

for (const [what, text, line] of corruptCatalogs) {
  test(`corrupt catalog.csv (${what}) is refused with line ${line}`, async () => {
    const dir = tempDir();
    fs.writeFileSync(catalogPath(dir), text);
    const err = await openFails(dir);
    assert.is(err.file, "catalog.csv");
    assert.is(err.line, line);
    assert.ok(err.message.startsWith(`catalog.csv line ${line}: `), err.message);
  });
}

const row1 = "j1,GameStart,buy,1,99,1,1";
const corruptJournals: [string, string[], number][] = [
  ["bad header", ["request_id,name", row1], 1],
  ["too many fields", [journalHeader, row1, "j2,GameStart,buy,1,98,2,2,9"], 3],
  ["bad side", [journalHeader, "j1,GameStart,hold,1,99,1,1"], 2],
  ["unknown stock", [journalHeader, "j1,NoSuchCo,buy,1,99,1,1"], 2],
  ["version gap", [journalHeader, row1, "j2,GameStart,buy,1,98,2,3"], 3],
  ["quantity_after does not follow", [journalHeader, row1, "j2,GameStart,buy,1,97,2,2"], 3],
  ["version goes back", [journalHeader, row1, "j2,GameStart,buy,1,98,2,2", "j3,GameStart,buy,1,98,2,1"], 4],
];

for (const [what, lines, line] of corruptJournals) {
  test(`corrupt journal (${what}) is refused with line ${line}`, async () => {
    const dir = tempDir();
    fs.writeFileSync(journalPath(dir), `${lines.join("\n")}\n`);
    const err = await openFails(dir);
    assert.is(err.file, "catalog-journal.csv");
    assert.is(err.line, line);
  });
}

test("compaction keeps the newest request ids across a restart, and no more", async () => {
  const dir = tempDir();
  const options = { requestIdsMax: 5, checkpointTradesInterval: 4 };
  const first = await open(dir, options);
  for (let i = 0; i < 12; i++) await first.trade(sell("PotionCo", 1, `r${i}`));
  assert.ok(first.checkpoints >= 3, "checkpoints ran every 4 trades");
  assert.ok((await readJournal(journalPath(dir))).rows.length <= 5 + 4);
  await first.close();
  assert.equal((await readJournal(journalPath(dir))).rows.map((r) => r.row.requestId), ["r7", "r8", "r9", "r10", "r11"]);
  const second = await open(dir, options);
  assert.is((await second.lookup("PotionCo")).quantity, 112);
  assert.is((await second.trade(sell("PotionCo", 1, "r7"))).duplicate, true);
  assert.is((await second.trade(sell("PotionCo", 1, "r11"))).duplicate, true);
  assert.is((await second.trade(sell("PotionCo", 1, "r0"))).duplicate, false, "the oldest id was forgotten");
  await second.close();
});

test("a crash between catalog.csv and compaction: replaying the old journal changes nothing", async () => {
  const dir = tempDir();
  const store = await open(dir);
  for (let i = 0; i < 6; i++) await store.trade(buy("DruidCo", 2, `i${i}`));
  const fullJournal = fs.readFileSync(journalPath(dir), "utf8");
  await store.close();
  fs.writeFileSync(journalPath(dir), fullJournal);
  const again = await open(dir);
  assert.equal(await again.lookup("DruidCo"), { name: "DruidCo", price: 63.1, quantity: 88, volume: 12, version: 6 });
  assert.is((await again.trade(buy("DruidCo", 2, "i0"))).duplicate, true);
  await again.close();
  const reopened = await open(dir);
  assert.is((await reopened.lookup("DruidCo")).version, 6);
  await reopened.close();
});

test("a compacted journal without its catalog.csv is refused, not replayed from zero", async () => {
  const dir = tempDir();
  const options = { requestIdsMax: 3, checkpointTradesInterval: 2 };
  const store = await open(dir, options);
  for (let i = 0; i < 6; i++) await store.trade(sell("BardCo", 1, `m${i}`));
  await store.close();
  fs.rmSync(catalogPath(dir));
  const err = await openFails(dir);
  assert.match(err.message, /does not follow version 0/);
});

test("rows are validated before writing: formatCatalog refuses an invalid stock", () => {
  const table = initialTable();
  table.set("Bad,Name", { price: 1, quantity: 1, volume: 0, version: 0 });
  assert.throws(() => formatCatalog(table), /assertion failed/);
});

test("a trade that failed leaves no journal row", async () => {
  const dir = tempDir();
  const store = await open(dir);
  assert.is((await store.trade(buy("ShieldCo", 1000, "big"))).status, TradeStatus.TRADE_INSUFFICIENT_QUANTITY);
  await store.close();
  assert.is((await readJournal(journalPath(dir))).rows.length, 0);
});

test.run();
