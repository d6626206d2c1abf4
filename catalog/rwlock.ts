// A promise face on the npm `rwlock` reader-writer lock: `withRead(fn)` / `withWrite(fn)` run
// fn while holding the lock and release it however fn ends. The package queues waiters in
// arrival order, so a waiting writer is not starved by a stream of readers.

import ReadWriteLock from "rwlock";

type Release = () => void;

export class RwLock {
  private readonly lock = new ReadWriteLock();

  withRead<T>(fn: () => T | Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.lock.readLock((release) => run(fn, release, resolve, reject));
    });
  }

  withWrite<T>(fn: () => T | Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.lock.writeLock((release) => run(fn, release, resolve, reject));
    });
  }
}

function run<T>(
  fn: () => T | Promise<T>,
  release: Release,
  resolve: (value: T) => void,
  reject: (err: unknown) => void,
): void {
  let result: Promise<T>;
  try {
    result = Promise.resolve(fn());
  } catch (err) {
    release();
    reject(err);
    return;
  }
  result.then(
    (value) => {
      release();
      resolve(value);
    },
    (err: unknown) => {
      release();
      reject(err);
    },
  );
}
