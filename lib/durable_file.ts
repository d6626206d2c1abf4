// Crash-safe files. Two ways to survive a crash, one per use:
// - AppendFile: append-only lines with group commit: every append waits for one write plus
//   fdatasync that serves all appends queued before it, so concurrent callers share a flush.
//   A crash can leave only a torn last line (no trailing newline), which readLines reports.
//   Durable means durable: an append resolves only when every one of its bytes was written
//   (short writes are continued at the offset where they stopped) and fdatasync succeeded.
//   The first failed write or fdatasync (ENOSPC, EIO, ...) fails that flush and every later
//   append: after it the file's contents are unknown ("fsyncgate"), so nothing more is
//   acknowledged; the file is cut back once to its last durable length so a restart does not
//   find half a row.
// - writeFileAtomic: write a temp file, fsync it, rename it over the target, fsync the
//   directory: readers see the old file or the new one, never a half-written one. A failure
//   removes the temp file and surfaces as StorageFailedError.

import { Buffer } from "node:buffer";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { assert, AssertionError } from "./assert.ts";

/** The step of persisting that failed. */
export type StorageOperation = "open" | "write" | "fdatasync" | "close" | "rename" | "fsync";

/**
 * Writing a file failed (no space, an I/O error, a failed sync). Callers catch it to stop
 * acknowledging and to report why; `cause` is the system error (its `code` is ENOSPC, EIO, ...).
 */
export class StorageFailedError extends Error {
  readonly code = "ERR_STORAGE_FAILED";
  readonly file: string;
  readonly operation: StorageOperation;
  constructor(file: string, operation: StorageOperation, message: string, options: { cause: unknown }) {
    super(`Cannot persist ${file}: ${operation} failed (${describeCause(options.cause)}); ${message}`, options);
    this.name = "StorageFailedError";
    this.file = file;
    this.operation = operation;
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** Permissions of files created here, before the umask: Node's default for new files. */
const fileMode = 0o666;

/**
 * The file operations AppendFile and writeFileAtomic use, on a file descriptor. Production uses
 * `nodeFileIo`; tests pass a wrapper to inject short writes and errors.
 */
export type FileIo = {
  /** Write up to `length` bytes of `data` from `offset` at file `position`; resolves with the count written. */
  write(fd: number, data: Buffer, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
};

export const nodeFileIo: FileIo = {
  // Synchronous: a write lands in the page cache in microseconds, less than the hop to the
  // libuv thread pool and back that fs.write costs. The fdatasync that follows is the real
  // wait, and it stays on the pool so the event loop serves other calls meanwhile.
  write: (fd, data, offset, length, position) => {
    try {
      return Promise.resolve(fs.writeSync(fd, data, offset, length, position));
    } catch (err) {
      return Promise.reject(err);
    }
  },
  fdatasync: (fd) =>
    new Promise((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    }),
  ftruncate: (fd, length) =>
    new Promise((resolve, reject) => {
      fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve()));
    }),
};

function openFd(file: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, fileMode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Write all of `data` at `position`, continuing after short writes at the offset where each
 * stopped. A write that makes no progress fails, rather than looping forever.
 */
async function writeAll(io: FileIo, fd: number, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const remaining = data.length - written;
    const count = await io.write(fd, data, written, remaining, position + written);
    assert(Number.isSafeInteger(count) && count >= 0 && count <= remaining, "a write reports 0..length bytes written");
    if (count === 0) {
      throw Object.assign(new Error(`write made no progress (${written} of ${data.length} bytes written)`), {
        code: "ERR_WRITE_NO_PROGRESS",
      });
    }
    written += count;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export type WriteFileAtomicOptions = {
  /** TEST ONLY: the file operations to use (to inject short writes and errors). */
  readonly io?: FileIo;
};

/** Replace `file` whole with `data`; on failure before the rename `file` is unchanged and the temp file is gone. */
export async function writeFileAtomic(file: string, data: string, options: WriteFileAtomicOptions = {}): Promise<void> {
  const io = options.io ?? nodeFileIo;
  const temp = `${file}.tmp-${process.pid}`;
  const bytes = Buffer.from(data, "utf8");
  let operation: StorageOperation = "open";
  let fd: number | undefined;
  try {
    fd = await openFd(temp, "w");
    operation = "write";
    await writeAll(io, fd, bytes, 0);
    operation = "fdatasync";
    await timedSync(io, fd, "replace");
    operation = "close";
    const open = fd;
    fd = undefined;
    await closeFd(open);
    operation = "rename";
    await fsp.rename(temp, file);
    operation = "fsync";
    await fsyncDir(path.dirname(file));
  } catch (cause) {
    if (cause instanceof AssertionError) throw cause;
    if (fd !== undefined) await closeFd(fd).catch(() => undefined);
    if (operation === "fsync") {
      throw new StorageFailedError(file, operation, "the new contents may not survive a crash", { cause });
    }
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new StorageFailedError(file, operation, "it is unchanged", { cause });
  }
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

export type AppendFileOptions = {
  /** TEST ONLY: the file operations to use (to inject short writes and errors). */
  readonly io?: FileIo;
};

export class AppendFile {
  readonly file: string;
  private readonly fd: number;
  private readonly io: FileIo;
  /** Bytes on disk and synced: every acknowledged append lies before it, nothing after it. */
  private durableBytes: number;
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  /** The running flush loop; it ends when nothing is queued. */
  private flushing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private failed: StorageFailedError | undefined;
  private flushCount = 0;

  private constructor(file: string, fd: number, sizeBytes: number, io: FileIo) {
    this.file = file;
    this.fd = fd;
    this.durableBytes = sizeBytes;
    this.io = io;
  }

  /** Open for appending, first cutting the file to `truncateToBytes` (drops a torn tail). */
  static async open(file: string, truncateToBytes?: number, options: AppendFileOptions = {}): Promise<AppendFile> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    // Not O_APPEND: on Linux a positioned write to an O_APPEND file ignores the position, and
    // this class writes at offsets it tracks itself (a short write continues where it stopped).
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT, fileMode);
    try {
      if (truncateToBytes !== undefined && fs.fstatSync(fd).size > truncateToBytes) {
        fs.ftruncateSync(fd, truncateToBytes);
        fs.fdatasyncSync(fd);
      }
      await fsyncDir(path.dirname(file));
      return new AppendFile(file, fd, fs.fstatSync(fd).size, options.io ?? nodeFileIo);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Number of successful fdatasync calls so far; tests and metrics read it to see group commit work. */
  get flushes(): number {
    return this.flushCount;
  }

  /**
   * Why this file stopped acknowledging appends (the first failed write or fdatasync), or
   * undefined while it works. Services report it in health and logs.
   */
  get failure(): StorageFailedError | undefined {
    return this.failed;
  }

  /** Append whole lines (each must end with "\n"); resolves once they are on disk. */
  append(text: string): Promise<void> {
    assert(text.endsWith("\n"), "AppendFile.append takes whole lines");
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.closing !== undefined) return Promise.reject(new Error(`Cannot append to ${this.file}: it is closed`));
    this.pending.push(text);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.flushQueued();
    return done;
  }

  /** Flush until nothing is queued: each round serves every append queued during the one before. */
  private async flushQueued(): Promise<void> {
    while (this.waiters.length > 0 && this.failed === undefined) {
      const data = Buffer.from(this.pending.join(""), "utf8");
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      const failure = await this.flushOnce(data);
      if (failure !== undefined) this.failed = failure;
      for (const w of waiters) {
        if (failure === undefined) w.resolve();
        else w.reject(failure);
      }
    }
    // Appends queued while the failing flush ran were never written: they fail the same way.
    const failed = this.failed;
    if (failed !== undefined) {
      const refused = this.waiters;
      this.pending = [];
      this.waiters = [];
      for (const w of refused) w.reject(failed);
    }
    this.flushing = undefined;
  }

  /** Write and sync `data` after the durable bytes; returns the failure instead of throwing. */
  private async flushOnce(data: Buffer): Promise<StorageFailedError | undefined> {
    const start = this.durableBytes;
    let operation: StorageOperation = "write";
    try {
      await writeAll(this.io, this.fd, data, start);
      operation = "fdatasync";
      await timedSync(this.io, this.fd, "append");
    } catch (cause) {
      if (cause instanceof AssertionError) throw cause;
      const cut = await this.cutBack(start);
      return new StorageFailedError(this.file, operation, `no append to it is acknowledged any more; ${cut}`, { cause });
    }
    this.durableBytes = start + data.length;
    this.flushCount++;
    return undefined;
  }

  /**
   * Try once to cut the file back to `length` (its last durable length), so a restart does not
   * read half a row of an append that was never acknowledged. Says how it went, for the error.
   */
  private async cutBack(length: number): Promise<string> {
    try {
      await this.io.ftruncate(this.fd, length);
      await this.io.fdatasync(this.fd);
      return `cut back to its last durable length, ${length} bytes`;
    } catch (err) {
      return `cutting it back to its last durable length, ${length} bytes, failed too (${describeCause(err)})`;
    }
  }

  /** Take no more appends, wait for the queued ones to finish (or fail), then close. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.flushing !== undefined) await this.flushing;
    assert(this.waiters.length === 0, "no append is queued after the flush loop ends");
    await closeFd(this.fd);
  }
}

/** What a sync made durable: appended lines (AppendFile) or a whole replaced file (writeFileAtomic). */
export type SyncKind = "append" | "replace";
export type SyncObserver = (kind: SyncKind, seconds: number) => void;

let syncObserver: SyncObserver | undefined;

/**
 * Metrics (lib/metrics.ts) see how long each successful fdatasync took. One observer per
 * process; undefined removes it. Without one, a sync costs nothing extra.
 */
export function observeSyncs(observer: SyncObserver | undefined): void {
  syncObserver = observer;
}

async function timedSync(io: FileIo, fd: number, kind: SyncKind): Promise<void> {
  const observer = syncObserver;
  if (observer === undefined) return io.fdatasync(fd);
  const startMs = performance.now();
  await io.fdatasync(fd);
  observer(kind, (performance.now() - startMs) / 1000);
}
