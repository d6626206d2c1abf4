// Crash-safe files. Two ways to survive a crash, one per use:
// - AppendFile: append-only lines with group commit: every append waits for one write plus
//   fdatasync that serves all appends queued before it, so concurrent callers share a flush.
//   A crash can leave only a torn last line (no trailing newline), which readLines reports.
// - writeFileAtomic: write a temp file, fsync it, rename it over the target, fsync the
//   directory: readers see the old file or the new one, never a half-written one.

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { assert } from "./assert.ts";

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  const handle = await fsp.open(temp, "w");
  try {
    await handle.writeFile(data, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(temp, file);
  await fsyncDir(path.dirname(file));
}

export type ReadLinesResult = {
  /** Complete lines, without their newline. */
  readonly lines: string[];
  /** Bytes after the last newline (a write torn by a crash), or "" when the file ends cleanly. */
  readonly tornTail: string;
  /** Length in bytes of the complete lines; truncate to this before appending again. */
  readonly completeBytes: number;
};

/** Read a line file; a missing file is empty. */
export async function readLines(file: string): Promise<ReadLinesResult> {
  let buffer: Buffer;
  try {
    buffer = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { lines: [], tornTail: "", completeBytes: 0 };
    throw err;
  }
  const end = buffer.lastIndexOf(0x0a) + 1;
  const complete = buffer.subarray(0, end).toString("utf8");
  const lines = complete === "" ? [] : complete.slice(0, -1).split("\n");
  return { lines, tornTail: buffer.subarray(end).toString("utf8"), completeBytes: end };
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class AppendFile {
  readonly file: string;
  private readonly fd: number;
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private closed = false;
  private failure: Error | undefined;
  /** Number of fdatasync calls so far; tests and metrics read it to see group commit work. */
  flushes = 0;

  private constructor(file: string, fd: number) {
    this.file = file;
    this.fd = fd;
  }

  /** Open for appending, first cutting the file to `truncateToBytes` (drops a torn tail). */
  static async open(file: string, truncateToBytes?: number): Promise<AppendFile> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, "a");
    if (truncateToBytes !== undefined) {
      const size = fs.fstatSync(fd).size;
      if (size > truncateToBytes) {
        fs.ftruncateSync(fd, truncateToBytes);
        fs.fdatasyncSync(fd);
      }
    }
    await fsyncDir(path.dirname(file));
    return new AppendFile(file, fd);
  }

  /** Append whole lines (each must end with "\n"); resolves once they are on disk. */
  append(text: string): Promise<void> {
    assert(text.endsWith("\n"), "AppendFile.append takes whole lines");
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    this.pending.push(text);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) this.flush();
    return done;
  }

  private flush(): void {
    this.flushing = true;
    const data = this.pending.join("");
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    fs.write(this.fd, data, null, "utf8", (writeErr) => {
      if (writeErr) return this.finish(waiters, writeErr);
      fs.fdatasync(this.fd, (syncErr) => {
        this.flushes++;
        this.finish(waiters, syncErr ?? undefined);
      });
    });
  }

  private finish(waiters: Waiter[], err: Error | undefined): void {
    // After a failed write or sync the file's state is unknown (fsyncgate): fail every later
    // append too rather than acknowledge data that may not be there.
    if (err) this.failure = err;
    for (const w of waiters) {
      if (this.failure) w.reject(this.failure);
      else w.resolve();
    }
    this.flushing = false;
    if (this.waiters.length > 0) this.flush();
  }

  /** Wait for queued appends, then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.waiters.length > 0) {
      await new Promise((r) => setTimeout(r, 1));
    }
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
