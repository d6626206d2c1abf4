// What run.ts hands to every experiment: the mode (--quick), the seed, the Scope that owns the
// experiment's processes, a progress printer, and a shared back end (catalog + 3 replicas)
// with a cache-on and a cache-off frontend, each started once, on first use, for the
// experiments that do not kill anything.

import type { RunningService } from "../../lib/service_process.ts";
import type { LocalSystem } from "../../test/support/local_system.ts";
import type { Scope } from "./scope.ts";
import { startBackend, startFrontend } from "./systems.ts";

export type SharedFrontend = "cache-on" | "cache-off";

/** The frontend's default CACHE_SIZE: fewer than the 12 stocks, so the LRU replaces entries. */
export const cacheSizeDefault = 5;

export type BenchContext = {
  readonly quick: boolean;
  readonly seed: number;
  readonly scope: Scope;
  /** One progress line to the terminal (stdout). */
  log(line: string): void;
  /** The shared back end; owned by the root scope, so it outlives one experiment. */
  backend(): Promise<LocalSystem>;
  /** A frontend in front of the shared back end (cache-on: CACHE_SIZE=5; cache-off: CACHE_SIZE=0). */
  frontend(kind: SharedFrontend): Promise<RunningService>;
};

/**
 * Starts the shared processes at most once each; a failed start is retried by the next caller.
 * Frontends start one at a time: each selects the order leader when it starts, and two
 * selections racing each other are not what these experiments measure.
 */
export class SharedSystem {
  private readonly root: Scope;
  private scope: Scope;
  private generation = 0;
  private backendStart: Promise<LocalSystem> | undefined;
  private readonly frontends = new Map<SharedFrontend, Promise<RunningService>>();
  private frontendQueue: Promise<unknown> = Promise.resolve();

  constructor(root: Scope) {
    this.root = root;
    this.scope = root.child("shared");
  }

  /**
   * Kill everything shared, so that work an experiment left running past its deadline (a
   * client loop, say) fails fast instead of loading the next experiment; the next caller
   * starts fresh processes.
   */
  async reset(): Promise<void> {
    const old = this.scope;
    this.generation++;
    this.scope = this.root.child(`shared-${this.generation}`);
    this.backendStart = undefined;
    this.frontends.clear();
    this.frontendQueue = Promise.resolve();
    await old.close();
  }

  backend(): Promise<LocalSystem> {
    if (!this.backendStart) {
      this.backendStart = startBackend(this.scope);
      this.backendStart.catch(() => {
        this.backendStart = undefined;
      });
    }
    return this.backendStart;
  }

  frontend(kind: SharedFrontend): Promise<RunningService> {
    let started = this.frontends.get(kind);
    if (!started) {
      const size = kind === "cache-on" ? cacheSizeDefault : 0;
      started = this.frontendQueue.then(async () =>
        startFrontend(this.scope, await this.backend(), { name: `frontend-${kind}`, env: { CACHE_SIZE: String(size) } })
      );
      this.frontendQueue = started.catch(() => undefined);
      this.frontends.set(kind, started);
      started.catch(() => this.frontends.delete(kind));
    }
    return started;
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** x / y rounded to 3 digits; 0 when y is 0 (nothing was measured on that side). */
export function ratio(x: number, y: number): number {
  return y > 0 ? Math.round((x / y) * 1000) / 1000 : 0;
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
