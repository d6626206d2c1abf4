// The catalog's durable state in DATA_DIR and how it survives a crash:
// - catalog.csv (catalog_file.ts) is a checkpoint of the whole table, replaced atomically;
// - catalog-journal.csv (journal.ts) holds every trade applied since, appended + fdatasynced
//   before the trade is acknowledged.
// Loading reads the checkpoint (or the initial stocks), replays the journal rows newer than
// it (by version, so replaying twice changes nothing), and rebuilds the dedupe record from
// the journal. A checkpoint rewrites catalog.csv first and only then compacts the journal to
// its most recent rows, so a crash between the two leaves a journal that still replays.

import { Buffer } from "node:buffer";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { assert } from "../lib/assert.ts";
import type { StockTable } from "./catalog_file.ts";
import { catalogFileName, initialTable, readCatalog, writeCatalog } from "./catalog_file.ts";
import { CorruptFileError } from "./errors.ts";
import type { JournalContents } from "./journal.ts";
import { Journal, journalFileName, readJournal } from "./journal.ts";
import type { AppliedTrade, StockState } from "./trade.ts";
import { applyTrade } from "./trade.ts";

/** Applied trades by request id, oldest first (Map keeps insertion order). */
export type AppliedRecord = Map<string, AppliedTrade>;

export type DurableState = {
  readonly stocks: StockTable;
  readonly recorded: AppliedRecord;
  readonly journal: Journal;
  /** True when there was no catalog.csv and the table is the initial one. */
  readonly initial: boolean;
  /** Journal rows that were newer than catalog.csv and were applied on load. */
  readonly replayed: number;
  /** Bytes of a torn last journal line that was dropped. */
  readonly tornTailBytes: number;
};

export function catalogPath(dir: string): string {
  return path.join(dir, catalogFileName);
}

export function journalPath(dir: string): string {
  return path.join(dir, journalFileName);
}

/** Record an applied trade for dedupe, forgetting the oldest past `requestIdsMax`. */
export function rememberApplied(recorded: AppliedRecord, row: AppliedTrade, requestIdsMax: number): void {
  // Delete first so a re-applied id (one that had been forgotten) moves to the newest end.
  recorded.delete(row.requestId);
  recorded.set(row.requestId, row);
  if (recorded.size > requestIdsMax) {
    const oldest = recorded.keys().next();
    assert(oldest.done !== true, "a non-empty map has a first key");
    recorded.delete(oldest.value);
  }
}

/**
 * Apply the journal rows that catalog.csv does not hold yet. Per stock, the rows must carry
 * consecutive versions, and each row's quantity_after and volume_after must follow from the
 * state before it by the trade rules: the second check of what was validated when written.
 */
export function replayJournal(stocks: StockTable, rows: JournalContents["rows"]): number {
  let replayed = 0;
  const started = new Set<string>();
  for (const { row, line } of rows) {
    const corrupt = (message: string): CorruptFileError => new CorruptFileError(journalFileName, line, message);
    const before = stocks.get(row.name);
    if (before === undefined) throw corrupt(`stock "${row.name}" is not in ${catalogFileName}`);
    if (row.versionAfter <= before.version) {
      if (started.has(row.name)) throw corrupt(`${row.name} version_after ${row.versionAfter} goes back from ${before.version}`);
      continue;
    }
    if (row.versionAfter !== before.version + 1) {
      throw corrupt(`${row.name} version_after ${row.versionAfter} does not follow version ${before.version} (rows missing, or ${catalogFileName} is older than the journal)`);
    }
    const outcome = applyTrade(before, row.side, row.quantity);
    if (!outcome.ok || outcome.after.quantity !== row.quantityAfter || outcome.after.volume !== row.volumeAfter) {
      throw corrupt(`${row.name} quantity_after/volume_after do not follow from quantity ${before.quantity} volume ${before.volume}`);
    }
    stocks.set(row.name, outcome.after);
    started.add(row.name);
    replayed++;
  }
  return replayed;
}

/**
 * Remove temp files of checkpoints a crash interrupted (writeFileAtomic names them
 * `<file>.tmp-<pid>`); the renamed-over files are whole either way. A DATA_DIR belongs to
 * one catalog process at a time.
 */
async function removeStaleTempFiles(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (name.startsWith(`${catalogFileName}.tmp-`) || name.startsWith(`${journalFileName}.tmp-`)) {
      await fsp.rm(path.join(dir, name), { force: true });
    }
  }
}

/** Load DATA_DIR (creating it when missing) and open the journal for appending. */
export async function loadDurableState(dir: string, requestIdsMax: number): Promise<DurableState> {
  await fsp.mkdir(dir, { recursive: true });
  await removeStaleTempFiles(dir);
  const checkpointed = await readCatalog(catalogPath(dir));
  const stocks = checkpointed ?? initialTable();
  const contents = await readJournal(journalPath(dir));
  const replayed = replayJournal(stocks, contents.rows);
  const recorded: AppliedRecord = new Map();
  for (const { row } of contents.rows) rememberApplied(recorded, row, requestIdsMax);
  const journal = await Journal.open(journalPath(dir), contents.completeBytes);
  return {
    stocks,
    recorded,
    journal,
    initial: checkpointed === undefined,
    replayed,
    tornTailBytes: Buffer.byteLength(contents.tornTail),
  };
}

/**
 * Write catalog.csv from the table, then compact the journal to the recorded trades. The
 * caller guarantees that every state in `stocks` is already durable in the journal and that
 * no append runs meanwhile.
 */
export async function checkpoint(dir: string, stocks: ReadonlyMap<string, StockState>, recorded: AppliedRecord, journal: Journal): Promise<void> {
  await writeCatalog(catalogPath(dir), stocks);
  await journal.rewrite(recorded.values());
}
