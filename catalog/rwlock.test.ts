// The promise wrapper over npm `rwlock`: readers share, a writer is alone, and the lock is
// released however the function ends.

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
  const a = lock.withRead(hold("a"));
  const b = lock.withRead(hold("b"));
  const w = lock.withWrite(hold("w"));
  const c = lock.withRead(hold("c"));
  await Promise.all([a, b, w, c]);
  assert.equal(events.slice(0, 2), ["a+", "b+"], "two readers at once");
  assert.equal(events.slice(4), ["w+", "w-", "c+", "c-"], "the writer alone, after the readers, before the next one");
});

test("a writer queued before a reader goes first (no writer starvation)", async () => {
  const lock = new RwLock();
  const events: string[] = [];
  const first = lock.withRead(async () => {
    await tick();
    events.push("r1");
  });
  const write = lock.withWrite(() => {
    events.push("w");
  });
  const second = lock.withRead(() => {
    events.push("r2");
  });
  await Promise.all([first, write, second]);
  assert.equal(events, ["r1", "w", "r2"]);
});

test("the lock is released when the function throws or rejects", async () => {
  const lock = new RwLock();
  await lock.withWrite(() => {
    throw new RangeError("sync");
  }).catch((err: unknown) => assert.instance(err, RangeError));
  await lock.withRead(async () => {
    throw new TypeError("async");
  }).catch((err: unknown) => assert.instance(err, TypeError));
  assert.is(await lock.withWrite(() => 42), 42);
});

test.run();
