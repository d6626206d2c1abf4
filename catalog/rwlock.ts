// The catalog's reader-writer lock: the npm `rwlock` package, with `read(fn)` / `write(fn)` that
// run fn while holding it and release it however fn ends. Readers share, a writer is alone, and
// waiters are served in arrival order, so a waiting writer is not starved by a stream of readers.
// When the lock is free and fn is synchronous, fn runs at once and its value comes straight back:
// the uncontended path costs no promise and no turn of the event loop.

import ReadWriteLock from "rwlock";

type Release = () => void;
type Acquire = (callback: (release: Release) => void) => void;

export class RwLock {
  private readonly lock = new ReadWriteLock();
  private readonly acquireRead: Acquire = (callback) => this.lock.readLock(callback);
  private readonly acquireWrite: Acquire = (callback) => this.lock.writeLock(callback);

  /** fn under the read lock: its value at once when granted at once and fn is synchronous, else a promise. */
  read<T>(fn: () => T | Promise<T>): T | Promise<T> {
    return hold(this.acquireRead, fn);
  }

  /** fn under the write lock: its value at once when granted at once and fn is synchronous, else a promise. */
  write<T>(fn: () => T | Promise<T>): T | Promise<T> {
    return hold(this.acquireWrite, fn);
  }
}

function hold<T>(acquire: Acquire, fn: () => T | Promise<T>): T | Promise<T> {
  let granted: Release | undefined;
  let wake: ((release: Release) => void) | undefined;
  // The package calls back synchronously when it can grant the lock now, later otherwise.
  acquire((release) => {
    if (wake === undefined) granted = release;
    else wake(release);
  });
  if (granted !== undefined) return runHolding(fn, granted);
  return new Promise<Release>((resolve) => {
    wake = resolve;
  }).then((release) => runHolding(fn, release));
}

function runHolding<T>(fn: () => T | Promise<T>, release: Release): T | Promise<T> {
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (err) {
    release();
    throw err;
  }
  if (result instanceof Promise) return result.finally(release);
  release();
  return result;
}
