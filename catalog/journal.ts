// catalog-journal.csv: the append-only record of applied trades,
// `number,epoch,request_id,name,side,quantity,quantity_after,volume_after,version_after`, one
// row per trade, numbers consecutive (checked on read). Rows are appended with AppendFile (one
// write + fdatasync per commit), so a crash can leave only a torn last line, which reading
// drops. Compaction replaces the file whole (writeFileAtomic) with its most recent rows: the
// trades kept for a new order leader to adopt. A journal in the format of an older version
// (no number and epoch) is refused, not migrated.

import { setImmediate } from "node:timers";
import { assert } from "../lib/assert.ts";
import { parseIntStrict } from "../lib/config.ts";
import { AppendFile, readLines, writeFileAtomic } from "../lib/durable_file.ts";
import { CorruptFileError } from "./errors.ts";
import { compactionRowsPerYield } from "./limits.ts";
import type { AppliedTrade } from "./trade.ts";
import { appliedTradeProblem } from "./trade.ts";

export const journalFileName = "catalog-journal.csv";
export const journalHeader = "number,epoch,request_id,name,side,quantity,quantity_after,volume_after,version_after";
/** The header of versions before trades were numbered, recognized only to refuse it clearly. */
const journalHeaderUnnumbered = "request_id,name,side,quantity,quantity_after,volume_after,version_after";

export function formatJournalRow(row: AppliedTrade): string {
  const problem = appliedTradeProblem(row);
  assert(problem === undefined, `writing a valid journal row: ${problem}`);
  return `${row.number},${row.epoch},${row.requestId},${row.name},${row.side},${row.quantity},${row.quantityAfter},${row.volumeAfter},${row.versionAfter}\n`;
}

export function parseJournalRow(line: string, lineNumber: number): AppliedTrade {
  const corrupt = (message: string): CorruptFileError => new CorruptFileError(journalFileName, lineNumber, message);
  const fields = line.split(",");
  if (fields.length !== 9) throw corrupt(`expected 9 fields, found ${fields.length}`);
  const [numberText, epochText, requestId, name, side, ...countTexts] = fields as [string, string, string, string, string, ...string[]];
  const texts = [numberText, epochText, ...countTexts];
  const values = texts.map((text) => parseIntStrict(text));
  const names = ["number", "epoch", "quantity", "quantity_after", "volume_after", "version_after"];
  for (let i = 0; i < values.length; i++) {
    if (values[i] === undefined) throw corrupt(`${names[i]} "${texts[i]}" is not an integer`);
  }
  if (side !== "buy" && side !== "sell") throw corrupt(`side "${side}" is not buy or sell`);
  const [number, epoch, quantity, quantityAfter, volumeAfter, versionAfter] = values as [number, number, number, number, number, number];
  const row: AppliedTrade = { number, epoch, requestId, name, side, quantity, quantityAfter, volumeAfter, versionAfter };
  const problem = appliedTradeProblem(row);
  if (problem !== undefined) throw corrupt(problem);
  return row;
}

/** Numbers follow each other without a gap and epochs never go back (a fence only rises). */
function checkSequence(rows: JournalContents["rows"]): void {
  for (let i = 1; i < rows.length; i++) {
    const { row, line } = rows[i] as JournalContents["rows"][number];
    const before = (rows[i - 1] as JournalContents["rows"][number]).row;
    if (row.number !== before.number + 1) {
      throw new CorruptFileError(journalFileName, line, `number ${row.number} does not follow number ${before.number}`);
    }
    if (row.epoch < before.epoch) {
      throw new CorruptFileError(journalFileName, line, `epoch ${row.epoch} goes back from epoch ${before.epoch}`);
    }
  }
}

function checkHeader(header: string): void {
  if (header === journalHeaderUnnumbered) {
    throw new CorruptFileError(
      journalFileName,
      1,
      "the format is from an older version of the catalog (rows without number and epoch), which this version does not read; move the old DATA_DIR aside to start afresh",
    );
  }
  if (header !== journalHeader) throw new CorruptFileError(journalFileName, 1, `header is not "${journalHeader}"`);
}

export type JournalContents = {
  /** Rows in file order, each with its 1-based line number for later error messages. */
  readonly rows: { readonly row: AppliedTrade; readonly line: number }[];
  /** A torn last line (crash during an append), dropped; "" when the file ends cleanly. */
  readonly tornTail: string;
  /** Bytes of complete lines: the journal is cut to this before appending again. */
  readonly completeBytes: number;
};

/** Read the journal; a missing file is an empty journal. */
export async function readJournal(file: string): Promise<JournalContents> {
  const { lines, tornTail, completeBytes } = await readLines(file);
  if (lines.length > 0) checkHeader(lines[0] as string);
  const rows = lines.slice(1).map((text, i) => ({ row: parseJournalRow(text, i + 2), line: i + 2 }));
  checkSequence(rows);
  return { rows, tornTail, completeBytes };
}

export class Journal {
  readonly file: string;
  private appender: AppendFile;
  private flushesBefore = 0;

  private constructor(file: string, appender: AppendFile) {
    this.file = file;
    this.appender = appender;
  }

  /** Open for appending after `completeBytes` (dropping a torn tail); a new file gets its header. */
  static async open(file: string, completeBytes: number): Promise<Journal> {
    const appender = await AppendFile.open(file, completeBytes);
    if (completeBytes === 0) await appender.append(`${journalHeader}\n`);
    return new Journal(file, appender);
  }

  /** fdatasync calls so far, across compactions: group commit shows as flushes << trades. */
  get flushes(): number {
    return this.flushesBefore + this.appender.flushes;
  }

  /** Append rows; resolves once they are on disk. */
  append(rows: readonly AppliedTrade[]): Promise<void> {
    assert(rows.length > 0, "a commit appends at least one row");
    return this.appender.append(rows.map(formatJournalRow).join(""));
  }

  /**
   * Replace the file with the header and `rows`. The caller guarantees that no append is in
   * flight and that `rows` does not change until this resolves (it yields while formatting).
   * A crash before the rename leaves the old journal, which replays to the same state.
   */
  async rewrite(rows: Iterable<AppliedTrade>): Promise<void> {
    const chunks = [`${journalHeader}\n`];
    let chunk: string[] = [];
    for (const row of rows) {
      chunk.push(formatJournalRow(row));
      if (chunk.length === compactionRowsPerYield) {
        chunks.push(chunk.join(""));
        chunk = [];
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    chunks.push(chunk.join(""));
    const text = chunks.join("");
    await this.appender.close();
    await writeFileAtomic(this.file, text);
    const next = await AppendFile.open(this.file);
    this.flushesBefore += this.appender.flushes;
    this.appender = next;
  }

  close(): Promise<void> {
    return this.appender.close();
  }
}
