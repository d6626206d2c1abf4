// The reader-writer lock over npm `rwlock`: readers share, a writer is alone and not starved, the
// lock is released however the function ends, and an uncontended synchronous holder runs at once.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { RwLock } from "./rwlock.ts";

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 2));

test("readers hold the lock together; a writer waits for them and excludes later readers", async () => {
  const lock = new RwLock();
  const events: string[] = [];
  const hold = (name: string) => async (): Promise<void> => {
    events.push(`${name}+`);
    await tick();
    events.push(`${name}-`);
  };
  const a = lock.read(hold("a"));
  const b = lock.read(hold("b"));
  const w = lock.write(hold("w"));
  const c = lock.read(hold("c"));
  await Promise.all([a, b, w, c]);
  assert.equal(events.slice(0, 2), ["a+", "b+"], "two readers at once");
  assert.equal(events.slice(4), ["w+", "w-", "c+", "c-"], "the writer alone, after the readers, before the next one");
});

test("a writer queued before a reader goes first (no writer starvation)", async () => {
  const lock = new RwLock();
  const events: string[] = [];
  const first = lock.read(async () => {
    await tick();
    events.push("r1");
  });
  const write = lock.write(() => {
    events.push("w");
  });
  const second = lock.read(() => {
    events.push("r2");
  });
  assert.instance(write, Promise, "a writer that must wait gets a promise");
  await Promise.all([first, write, second]);
  assert.equal(events, ["r1", "w", "r2"]);
});

test("an uncontended synchronous holder runs at once and returns its value, not a promise", () => {
  const lock = new RwLock();
  assert.is(lock.read(() => 7), 7);
  assert.is(lock.write(() => 8), 8);
  assert.is(lock.read(() => 9), 9, "released after the write");
});

test("the lock is released when the function throws or rejects", async () => {
  const lock = new RwLock();
  assert.throws(() =>
    lock.write(() => {
      throw new RangeError("sync");
    }), RangeError);
  await Promise.resolve(lock.read(async () => {
    throw new TypeError("async");
  })).catch((err: unknown) => assert.instance(err, TypeError));
  assert.is(lock.write(() => 42), 42, "free again");
});

test.run();
