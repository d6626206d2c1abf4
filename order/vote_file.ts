// The durable epoch and vote of one replica: DATA_DIR/vote-<id>.csv, the header `epoch,voted_for`
// and one row. Raft's rule: a replica that granted its vote in an epoch, or learned of a newer
// epoch, must still know it after a crash, or it could vote twice in one epoch (two leaders).
// Replaced whole with write-temp-fsync-rename (lib/durable_file.ts), so a crash leaves the
// old row or the new one. Writes are rare (one per election), so each is its own file write.

import * as path from "node:path";
import { readLines, writeFileAtomic } from "../lib/durable_file.ts";
import type { Vote } from "./core.ts";

export const voteFileHeader = "epoch,voted_for";
const rowPattern = /^(0|[1-9][0-9]*),(0|[1-9][0-9]*)$/;

export function voteFile(dataDir: string, id: number): string {
  return path.join(dataDir, `vote-${id}.csv`);
}

/** The vote on disk; a missing file is epoch 0, no vote. Throws SyntaxError for a malformed file. */
export async function readVote(file: string): Promise<Vote> {
  const { lines, tornTail } = await readLines(file);
  if (lines.length === 0 && tornTail === "") return { epoch: 0, votedFor: 0 };
  const match = lines.length === 2 && lines[0] === voteFileHeader ? rowPattern.exec(lines[1] as string) : null;
  if (!match) throw new SyntaxError(`Cannot load ${file}: expected "${voteFileHeader}" and one row of two integers`);
  const epoch = Number(match[1]);
  const votedFor = Number(match[2]);
  if (!Number.isSafeInteger(epoch)) throw new SyntaxError(`Cannot load ${file}: epoch out of range`);
  return { epoch, votedFor };
}

export function writeVote(file: string, vote: Vote): Promise<void> {
  return writeFileAtomic(file, `${voteFileHeader}\n${vote.epoch},${vote.votedFor}\n`);
}
