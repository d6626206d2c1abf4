// Owns everything a benchmark starts, so that every process is killed by its PID at the end,
// on failure, on a deadline and on Ctrl-C, and every temporary data directory is removed.
// A Scope is a tree: each experiment runs in a child scope that a deadline can kill alone,
// while the root also reaps what was shared between experiments.

import * as fs from "node:fs";
import type { RunningService } from "../../lib/service_process.ts";

/** Something to tear down: `killNow` must act synchronously (it runs in signal and exit handlers). */
export type Owned = {
  readonly name: string;
  killNow(): void;
  /** Kill and wait until it is gone; the default is killNow(). */
  close?(): Promise<void>;
};

export class DeadlineError extends Error {
  readonly code = "ERR_BENCH_DEADLINE";
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms; its processes were killed`);
    this.name = "DeadlineError";
  }
}

export class Scope {
  readonly name: string;
  private readonly owned: Owned[] = [];
  private readonly children: Scope[] = [];
  /** Set by close(): anything owned afterwards (a start that outlived a deadline) dies at once. */
  private closed = false;

  constructor(name: string) {
    this.name = name;
  }

  child(name: string): Scope {
    const scope = new Scope(`${this.name}/${name}`);
    this.children.push(scope);
    return scope;
  }

  own<T extends Owned>(item: T): T {
    if (this.closed) {
      item.killNow();
      void item.close?.().catch(() => undefined);
      return item;
    }
    this.owned.push(item);
    return item;
  }

  /** Forget an item that was torn down by its owner. */
  disown(item: Owned): void {
    const at = this.owned.indexOf(item);
    if (at >= 0) this.owned.splice(at, 1);
  }

  /** A service started with lib/service_process.ts: SIGKILL by PID. */
  ownService(service: RunningService): RunningService {
    this.own({
      name: `${service.name} (pid ${service.pid})`,
      killNow: () => service.kill("SIGKILL"),
      close: async () => {
        service.kill("SIGKILL");
        await service.exited;
      },
    });
    return service;
  }

  /** A temporary directory, removed when the scope closes (after its processes are gone). */
  ownTempDir(dir: string): string {
    this.own({ name: dir, killNow: () => undefined, close: () => fs.promises.rm(dir, { recursive: true, force: true }) });
    return dir;
  }

  /** Synchronous SIGKILL of every process in this scope and below it. */
  killAll(): void {
    for (const child of this.children) child.killAll();
    for (const item of this.owned) {
      try {
        item.killNow();
      } catch {
        // Already gone: nothing to kill.
      }
    }
  }

  /** Kill everything (children first, newest first) and wait for it; removes temp dirs last. */
  async close(): Promise<void> {
    this.closed = true;
    for (const child of this.children.splice(0)) await child.close();
    for (const item of this.owned.splice(0).reverse()) {
      try {
        await (item.close ? item.close() : Promise.resolve(item.killNow()));
      } catch {
        // Teardown is best effort: a failure to remove a temp dir must not hide the results.
      }
    }
  }
}

/**
 * Run `fn` with a time bound. On timeout the scope's processes are killed (which makes the
 * work in flight fail fast) and the returned promise rejects with DeadlineError.
 */
export async function withDeadline<T>(scope: Scope, what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const work = fn();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      scope.killAll();
      reject(new DeadlineError(what, ms));
    }, ms);
  });
  // The work may reject after the deadline already did; that late failure is expected.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
