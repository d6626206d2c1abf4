// The catalog's durable state in DATA_DIR and how it survives a crash:
// - catalog.csv (catalog_file.ts) is a checkpoint of the whole table and of the last trade
//   number it includes, replaced atomically;
// - catalog-journal.csv (journal.ts) holds the numbered trades applied since, and the most
//   recent ones before, each appended + fdatasynced before the trade is answered;
// - catalog-epoch.txt (epoch_file.ts) holds the newest leader epoch, replaced atomically before
//   a batch that raised it is applied or answered.
// Loading reads the checkpoint (or the initial stocks), replays the journal rows numbered after
// its last number (so replaying twice changes nothing), and keeps the journal's most recent rows
// as the retained trades; the epoch is the larger of the epoch file's and the last row's. A
// checkpoint rewrites catalog.csv first and only then compacts the journal to the retained rows,
// so a crash between the two leaves a journal whose older rows are simply skipped.

import { Buffer } from "node:buffer";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { StockTable } from "./catalog_file.ts";
import { catalogFileName, initialTable, readCatalog, writeCatalog } from "./catalog_file.ts";
import { EpochFile, epochFileName } from "./epoch_file.ts";
import { CorruptFileError } from "./errors.ts";
import type { JournalContents } from "./journal.ts";
import { Journal, journalFileName, readJournal } from "./journal.ts";
import { SequenceState } from "./sequence_state.ts";
import type { StockState } from "./trade.ts";
import { applyTrade } from "./trade.ts";

export type DurableState = {
  readonly stocks: StockTable;
  readonly sequence: SequenceState;
  readonly journal: Journal;
  readonly epochFile: EpochFile;
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

export function epochPath(dir: string): string {
  return path.join(dir, epochFileName);
}

type Rows = JournalContents["rows"];

/** The journal must reach back to the checkpoint's last number and not end before it. */
function checkCoverage(lastNumber: number, rows: Rows): void {
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (first === undefined || last === undefined) return;
  if (first.row.number > lastNumber + 1) {
    throw new CorruptFileError(
      journalFileName,
      first.line,
      `number ${first.row.number} does not follow ${catalogFileName}'s last_number ${lastNumber} (rows missing, or ${catalogFileName} is older than the journal)`,
    );
  }
  if (last.row.number < lastNumber) {
    throw new CorruptFileError(
      journalFileName,
      last.line,
      `the journal ends at number ${last.row.number}, before ${catalogFileName}'s last_number ${lastNumber} (rows missing)`,
    );
  }
}

/**
 * Apply the journal rows numbered after the checkpoint's last number. Rows up to it must
 * already be in the table; the others must carry each stock's next version, and their
 * quantity_after and volume_after must follow from the state before them by the trade rules:
 * the second check of what was validated when written.
 */
export function replayJournal(stocks: StockTable, lastNumber: number, rows: Rows): number {
  checkCoverage(lastNumber, rows);
  let replayed = 0;
  for (const { row, line } of rows) {
    const corrupt = (message: string): CorruptFileError => new CorruptFileError(journalFileName, line, message);
    const before = stocks.get(row.name);
    if (before === undefined) throw corrupt(`stock "${row.name}" is not in ${catalogFileName}`);
    if (row.number <= lastNumber) {
      if (row.versionAfter > before.version) {
        throw corrupt(
          `${row.name} version_after ${row.versionAfter} is newer than version ${before.version} in ${catalogFileName}, which claims to include number ${row.number}`,
        );
      }
      continue;
    }
    if (row.versionAfter !== before.version + 1) {
      throw corrupt(`${row.name} version_after ${row.versionAfter} does not follow version ${before.version}`);
    }
    const outcome = applyTrade(before, row.side, row.quantity);
    if (!outcome.ok || outcome.after.quantity !== row.quantityAfter || outcome.after.volume !== row.volumeAfter) {
      throw corrupt(`${row.name} quantity_after/volume_after do not follow from quantity ${before.quantity} volume ${before.volume}`);
    }
    stocks.set(row.name, outcome.after);
    replayed++;
  }
  return replayed;
}

/** The numbering after load: the journal's most recent rows, or the checkpoint's number alone. */
function sequenceFrom(lastNumber: number, rows: Rows, fileEpoch: number, retainedMax: number): SequenceState {
  const kept = rows.slice(-retainedMax);
  const lastRow = kept[kept.length - 1]?.row;
  const epoch = Math.max(fileEpoch, lastRow?.epoch ?? 0);
  const sequence = new SequenceState(retainedMax, kept[0] === undefined ? lastNumber : kept[0].row.number - 1, epoch);
  for (const { row } of kept) sequence.record(row);
  return sequence;
}

/**
 * Remove temp files of replacements a crash interrupted (writeFileAtomic names them
 * `<file>.tmp-<pid>`); the renamed-over files are whole either way. A DATA_DIR belongs to
 * one catalog process at a time.
 */
async function removeStaleTempFiles(dir: string): Promise<void> {
  const prefixes = [catalogFileName, journalFileName, epochFileName].map((name) => `${name}.tmp-`);
  for (const name of await fsp.readdir(dir)) {
    if (prefixes.some((prefix) => name.startsWith(prefix))) await fsp.rm(path.join(dir, name), { force: true });
  }
}

/** Load DATA_DIR (creating it when missing) and open the journal for appending. */
export async function loadDurableState(dir: string, retainedTradesMax: number): Promise<DurableState> {
  await fsp.mkdir(dir, { recursive: true });
  await removeStaleTempFiles(dir);
  const checkpointed = await readCatalog(catalogPath(dir));
  const stocks = checkpointed?.stocks ?? initialTable();
  const lastNumber = checkpointed?.lastNumber ?? -1;
  const contents = await readJournal(journalPath(dir));
  const replayed = replayJournal(stocks, lastNumber, contents.rows);
  const epochFile = new EpochFile(epochPath(dir));
  const sequence = sequenceFrom(lastNumber, contents.rows, await epochFile.read(), retainedTradesMax);
  const journal = await Journal.open(journalPath(dir), contents.completeBytes);
  return {
    stocks,
    sequence,
    journal,
    epochFile,
    initial: checkpointed === undefined,
    replayed,
    tornTailBytes: Buffer.byteLength(contents.tornTail),
  };
}

/**
 * Write catalog.csv from the table and the last number, then compact the journal to the
 * retained trades. The caller guarantees that every state in `stocks` is already durable in the
 * journal, that `sequence` matches it, and that no append runs meanwhile.
 */
export async function checkpoint(
  dir: string,
  stocks: ReadonlyMap<string, StockState>,
  sequence: SequenceState,
  journal: Journal,
): Promise<void> {
  await writeCatalog(catalogPath(dir), stocks, sequence.lastNumber);
  await journal.rewrite(sequence.trades());
}
