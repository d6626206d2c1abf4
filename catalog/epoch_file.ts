// catalog-epoch.txt: the newest order-leader epoch the catalog has seen, its fence against
// deposed leaders. Two lines, `epoch` and the number. An epoch rises once per leader change, so
// the file is simply replaced whole (writeFileAtomic: temp file, fsync, rename, fsync dir)
// before the batch that raised it is applied or answered: a crash leaves the old epoch or the
// new one, never a torn one, and a restarted catalog still refuses the old leader. A missing
// file is epoch 0 (none seen yet). The journal's rows carry epochs too; the loaded epoch is the
// larger of the two (persistence.ts).

import * as fsp from "node:fs/promises";
import { assert } from "../lib/assert.ts";
import { parseIntStrict } from "../lib/config.ts";
import { writeFileAtomic } from "../lib/durable_file.ts";
import { CorruptFileError } from "./errors.ts";

export const epochFileName = "catalog-epoch.txt";
export const epochHeader = "epoch";

export function formatEpoch(epoch: number): string {
  assert(Number.isSafeInteger(epoch) && epoch >= 1, "a recorded epoch is 1 or more");
  return `${epochHeader}\n${epoch}\n`;
}

/** Parse catalog-epoch.txt; every problem is a CorruptFileError naming the line. */
export function parseEpoch(text: string): number {
  const lines = text.split("\n");
  const corrupt = (line: number, message: string): CorruptFileError => new CorruptFileError(epochFileName, line, message);
  if (lines[0] !== epochHeader) throw corrupt(1, `header is not "${epochHeader}"`);
  if (lines.length !== 3 || lines[2] !== "") throw corrupt(Math.min(lines.length, 3), "expected one epoch line ending with a newline");
  const epoch = parseIntStrict(lines[1] as string);
  if (epoch === undefined || epoch < 1) throw corrupt(2, `epoch "${lines[1]}" is not a positive integer`);
  return epoch;
}

/** One DATA_DIR's epoch file. A class so a test can make its write fail or watch its order. */
export class EpochFile {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** The recorded epoch, 0 when there is no file yet. */
  async read(): Promise<number> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw err;
    }
    return parseEpoch(text);
  }

  /** Replace the recorded epoch; resolves once it is durable. */
  write(epoch: number): Promise<void> {
    return writeFileAtomic(this.file, formatEpoch(epoch));
  }
}
