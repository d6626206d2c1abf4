// Types for the npm `rwlock` package (CommonJS, ships none). Only what catalog/rwlock.ts uses.

declare module "rwlock" {
  type Release = () => void;
  type LockOptions = { scope?: unknown; timeout?: number; timeoutCallback?: () => void };
  class ReadWriteLock {
    readLock(callback: (release: Release) => void, options?: LockOptions): void;
    writeLock(callback: (release: Release) => void, options?: LockOptions): void;
  }
  export = ReadWriteLock;
}
