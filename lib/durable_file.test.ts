// lib/durable_file.ts on a real temp directory: group commit, a torn tail dropped on reopen,
// short writes continued at the right offset, and "durable means durable": a failed write or
// fdatasync rejects that flush's appends and every later one, and cuts the file back to its
// last durable length. Faults are injected through the `io` option (a wrapper of nodeFileIo).

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AppendFile, nodeFileIo, readLines, StorageFailedError, writeFileAtomic } from "./durable_file.ts";
import type { FileIo } from "./durable_file.ts";
import { rejects } from "../test/support/throws.ts";

const dirs: string[] = [];

function tempFile(name = "rows.csv"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "durable-file-"));
  dirs.push(dir);
  return path.join(dir, name);
}

test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function systemError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/** nodeFileIo with each write cut to at most `bytesMax` bytes, recording every write's position. */
function shortWrites(bytesMax: number): FileIo & { writes: { position: number; length: number }[] } {
  const writes: { position: number; length: number }[] = [];
  return {
    ...nodeFileIo,
    writes,
    async write(fd, data, offset, length, position) {
      const count = await nodeFileIo.write(fd, data, offset, Math.min(length, bytesMax), position);
      writes.push({ position, length: count });
      return count;
    },
  };
}

/** Rejects with StorageFailedError or fails the test. */
function storageFailure(p: Promise<unknown>): Promise<StorageFailedError> {
  return rejects(p, StorageFailedError);
}

function lines(n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) => `${tag}-${i},${"x".repeat(i % 7)}\n`);
}

test("concurrent appends share a flush (group commit) and land whole, in order", async () => {
  const file = tempFile();
  const appender = await AppendFile.open(file);
  const rows = lines(50, "row");
  await Promise.all(rows.map((row) => appender.append(row)));
  // The first append starts a flush at once; the 49 queued behind it share the next one.
  assert.is(appender.flushes, 2);
  await appender.close();
  assert.is(fs.readFileSync(file, "utf8"), rows.join(""));
});

test("reopening drops a torn tail and appends after the last whole line", async () => {
  const file = tempFile();
  fs.writeFileSync(file, "a\nb\npart");
  const read = await readLines(file);
  assert.equal(read.lines, ["a", "b"]);
  assert.is(read.tornTail, "part");
  assert.is(read.completeBytes, 4);
  const appender = await AppendFile.open(file, read.completeBytes);
  await appender.append("c\n");
  await appender.close();
  assert.is(fs.readFileSync(file, "utf8"), "a\nb\nc\n");
  assert.equal(await readLines(file), { lines: ["a", "b", "c"], tornTail: "", completeBytes: 6 });
});

test("opening an existing file without a cut appends after its end", async () => {
  const file = tempFile();
  fs.writeFileSync(file, "first\n");
  const appender = await AppendFile.open(file);
  await appender.append("second\n");
  await appender.close();
  assert.is(fs.readFileSync(file, "utf8"), "first\nsecond\n");
});

test("short writes are continued at the offset where they stopped", async () => {
  const file = tempFile();
  fs.writeFileSync(file, "header\n");
  const io = shortWrites(3);
  const appender = await AppendFile.open(file, undefined, { io });
  const rows = ["é-multibyte,1\n", ...lines(20, "short")];
  await Promise.all(rows.map((row) => appender.append(row)));
  await appender.append("last\n");
  await appender.close();
  const expected = `header\n${rows.join("")}last\n`;
  assert.is(fs.readFileSync(file, "utf8"), expected);
  let position = Buffer.byteLength("header\n");
  for (const w of io.writes) {
    assert.is(w.position, position, "each write starts where the one before ended");
    assert.ok(w.length >= 1 && w.length <= 3);
    position += w.length;
  }
  assert.is(position, Buffer.byteLength(expected));
});

test("a failed write (after a short one) rejects its flush and every later append, and cuts the file back", async () => {
  const file = tempFile();
  let writes = 0;
  let failWrites = false;
  const io: FileIo = {
    ...nodeFileIo,
    async write(fd, data, offset, length, position) {
      if (!failWrites) return nodeFileIo.write(fd, data, offset, length, position);
      writes++;
      if (writes === 1) return nodeFileIo.write(fd, data, offset, Math.min(length, 5), position);
      throw systemError("ENOSPC");
    },
  };
  const appender = await AppendFile.open(file, undefined, { io });
  await appender.append("durable,1\n");
  failWrites = true;
  const failing = appender.append("lost,2\n");
  const queued = appender.append("queued,3\n");
  const err = await storageFailure(failing);
  assert.is(err.code, "ERR_STORAGE_FAILED");
  assert.is(err.file, file);
  assert.is(err.operation, "write");
  assert.is((err.cause as NodeJS.ErrnoException).code, "ENOSPC");
  assert.match(err.message, file);
  assert.match(err.message, "ENOSPC");
  assert.match(err.message, "cut back to its last durable length, 10 bytes");
  assert.is(await storageFailure(queued), err, "an append queued during the failing flush fails the same way");
  assert.is(appender.failure, err);
  failWrites = false;
  assert.is(await storageFailure(appender.append("later,4\n")), err, "nothing is acknowledged after a failure, even if the disk recovers");
  await appender.close();
  assert.is(fs.readFileSync(file, "utf8"), "durable,1\n", "the half-written row was cut off");
});

test("a failed fdatasync rejects its flush and every later append", async () => {
  const file = tempFile();
  let failSyncs = false;
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync: (fd) => (failSyncs ? Promise.reject(systemError("EIO")) : nodeFileIo.fdatasync(fd)),
  };
  const appender = await AppendFile.open(file, undefined, { io });
  await appender.append("durable,1\n");
  failSyncs = true;
  const err = await storageFailure(appender.append("unsynced,2\n"));
  assert.is(err.operation, "fdatasync");
  assert.is((err.cause as NodeJS.ErrnoException).code, "EIO");
  // The cut back needs an fdatasync too, which fails here: the error says so.
  assert.match(err.message, "cutting it back to its last durable length, 10 bytes, failed too (EIO: injected)");
  assert.is(appender.flushes, 1);
  failSyncs = false;
  assert.is(await storageFailure(appender.append("later,3\n")), err);
  await appender.close();
  // ftruncate itself succeeded, so the unsynced row is gone from the file's contents.
  assert.is(fs.readFileSync(file, "utf8"), "durable,1\n");
});

test("a write that makes no progress fails instead of looping", async () => {
  const file = tempFile();
  const io: FileIo = { ...nodeFileIo, write: async () => 0 };
  const appender = await AppendFile.open(file, undefined, { io });
  const err = await storageFailure(appender.append("row\n"));
  assert.is((err.cause as NodeJS.ErrnoException).code, "ERR_WRITE_NO_PROGRESS");
  await appender.close();
});

test("close waits for the flush in flight, then refuses appends", async () => {
  const file = tempFile();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync: async (fd) => {
      await gate;
      await nodeFileIo.fdatasync(fd);
    },
  };
  const appender = await AppendFile.open(file, undefined, { io });
  const order: string[] = [];
  const appended = appender.append("row,1\n").then(() => order.push("append"));
  const queued = appender.append("row,2\n").then(() => order.push("queued"));
  const closed = appender.close().then(() => order.push("close"));
  const refused = await appender.append("after-close\n").then(() => undefined, (err: unknown) => err);
  assert.instance(refused, Error);
  assert.match((refused as Error).message, "is closed");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(order, [], "close does not finish while a flush is in flight");
  release();
  await Promise.all([appended, queued, closed]);
  assert.equal(order, ["append", "queued", "close"]);
  assert.is(fs.readFileSync(file, "utf8"), "row,1\nrow,2\n");
  await appender.close();
});

test("close after a failure closes without throwing", async () => {
  const file = tempFile();
  const io: FileIo = { ...nodeFileIo, write: () => Promise.reject(systemError("EIO")) };
  const appender = await AppendFile.open(file, undefined, { io });
  await storageFailure(appender.append("row\n"));
  await appender.close();
});

test("writeFileAtomic: short writes complete the file", async () => {
  const file = tempFile("table.csv");
  const text = `${lines(30, "atomic").join("")}ü\n`;
  await writeFileAtomic(file, text, { io: shortWrites(7) });
  assert.is(fs.readFileSync(file, "utf8"), text);
  assert.equal(fs.readdirSync(path.dirname(file)), ["table.csv"]);
});

test("writeFileAtomic: a failed write or sync leaves the old file and no temp file", async () => {
  const file = tempFile("table.csv");
  fs.writeFileSync(file, "old\n");
  const cases: [string, FileIo][] = [
    ["write", {
      ...nodeFileIo,
      write: (fd, data, offset, _length, position) =>
        nodeFileIo.write(fd, data, offset, 1, position).then(() => Promise.reject(systemError("ENOSPC"))),
    }],
    ["fdatasync", { ...nodeFileIo, fdatasync: () => Promise.reject(systemError("EIO")) }],
  ];
  for (const [operation, io] of cases) {
    const err = await storageFailure(writeFileAtomic(file, "new contents\n", { io }));
    assert.is(err.operation, operation);
    assert.match(err.message, file);
    assert.is(fs.readFileSync(file, "utf8"), "old\n");
    assert.equal(fs.readdirSync(path.dirname(file)), ["table.csv"], `no temp file after a failed ${operation}`);
  }
});

test.run();
